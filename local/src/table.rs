//! The table definitions come from `template.yaml` (embedded at build time) and nowhere else: the
//! local server and every test create their tables (the main one and the shops table) from it, so
//! drift fails a test.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use serde_yaml::Value;

/// `template.yaml`, as built into this binary.
pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// Why the template could not be read or the table not created.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
}

fn bad(msg: impl Into<String>) -> TableError {
    TableError::Template(msg.into())
}

/// The parsed template (CloudFormation tags such as `!Ref` become tagged values).
pub fn template() -> Result<Value, TableError> {
    serde_yaml::from_str(TEMPLATE).map_err(|e| bad(e.to_string()))
}

/// The logical id of the table of sales, stock and orders, and of the shops table.
pub const TABLE: &str = "Table";
pub const SHOPS_TABLE: &str = "ShopsTable";

/// The `Properties` of the template's main table ([`TABLE`]).
pub fn table_properties(template: &Value) -> Result<&Value, TableError> {
    table_properties_of(template, TABLE)
}

/// The `Properties` of the template's `AWS::DynamoDB::Table` `logical_id`.
pub fn table_properties_of<'a>(
    template: &'a Value,
    logical_id: &str,
) -> Result<&'a Value, TableError> {
    let table = template
        .get("Resources")
        .and_then(|r| r.get(logical_id))
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .ok_or_else(|| bad(format!("no AWS::DynamoDB::Table {logical_id}")))?;
    table
        .get("Properties")
        .ok_or_else(|| bad(format!("{logical_id} has no Properties")))
}

/// The name of the shops table that goes with the table `name` (locally and in tests).
pub fn shops_table_name(name: &str) -> String {
    format!("{name}-shops")
}

fn str_at<'a>(v: &'a Value, key: &str) -> Result<&'a str, TableError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{key} missing or not a string")))
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, TableError> {
    v.as_sequence()
        .ok_or_else(|| bad("KeySchema is not a list"))?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_at(k, "AttributeName")?)
                .key_type(KeyType::from(str_at(k, "KeyType")?))
                .build()
                .map_err(|e| bad(e.to_string()))
        })
        .collect()
}

/// Creates `name` with the template's key schema, attributes and indexes (on-demand billing), and
/// waits until it is active. The template's `StreamSpecification` is left out on purpose: nothing
/// consumes a stream locally (order-events is tested with the stream records in `events/`).
pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
    create_table_of(client, name, TABLE).await?;
    create_table_of(client, &shops_table_name(name), SHOPS_TABLE).await
}

/// Creates `name` as the template's table `logical_id`.
pub async fn create_table_of(
    client: &Client,
    name: &str,
    logical_id: &str,
) -> Result<(), TableError> {
    let template = template()?;
    let props = table_properties_of(&template, logical_id)?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for attr in props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| bad("no AttributeDefinitions"))?
    {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(str_at(attr, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(str_at(attr, "AttributeType")?))
                .build()
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    req = req.set_key_schema(Some(key_schema(
        props.get("KeySchema").ok_or_else(|| bad("no KeySchema"))?,
    )?));
    if let Some(indexes) = props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
    {
        for index in indexes {
            let projection = index
                .get("Projection")
                .ok_or_else(|| bad("index without Projection"))?;
            let mut p = Projection::builder()
                .projection_type(ProjectionType::from(str_at(projection, "ProjectionType")?));
            if let Some(attrs) = projection
                .get("NonKeyAttributes")
                .and_then(Value::as_sequence)
            {
                for a in attrs {
                    p = p.non_key_attributes(
                        a.as_str()
                            .ok_or_else(|| bad("NonKeyAttributes holds a non-string"))?,
                    );
                }
            }
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(str_at(index, "IndexName")?)
                    .set_key_schema(Some(key_schema(
                        index
                            .get("KeySchema")
                            .ok_or_else(|| bad("index without KeySchema"))?,
                    )?))
                    .projection(p.build())
                    .build()
                    .map_err(|e| bad(e.to_string()))?,
            );
        }
    }
    match req.send().await {
        Ok(_) => Ok(()),
        // Created by an attempt of this very call whose answer timed out (the SDK sent it again):
        // callers name a table that did not exist.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(TableError::Dynamo(
            aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

/// Creates the table and its shops table unless they exist.
pub async fn ensure_table(client: &Client, name: &str) -> Result<(), TableError> {
    ensure_table_of(client, name, TABLE).await?;
    ensure_table_of(client, &shops_table_name(name), SHOPS_TABLE).await
}

async fn ensure_table_of(client: &Client, name: &str, logical_id: &str) -> Result<(), TableError> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            create_table_of(client, name, logical_id).await
        }
        Err(e) => Err(TableError::Dynamo(
            aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

/// `(method, path)` of every `HttpApi` event in the template.
pub fn template_routes() -> Result<Vec<(String, String, String)>, TableError> {
    let template = template()?;
    let resources = template
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| bad("no Resources"))?;
    let mut routes = Vec::new();
    for resource in resources.values() {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(events) = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        for event in events.values() {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event
                .get("Properties")
                .ok_or_else(|| bad("HttpApi event without Properties"))?;
            routes.push((
                str_at(props, "Method")?.to_owned(),
                str_at(props, "Path")?.to_owned(),
                binary.clone(),
            ));
        }
    }
    Ok(routes)
}
