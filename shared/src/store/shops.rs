//! Shops of the sales channels, in their own table (`ShopsTable`, key `shop`: the shop's domain),
//! so that only the functions given that table (and its IAM policy) can read webhook secrets. A
//! shop belongs to one account: registering a domain another account holds is refused.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::codec::{s, Reader};
use super::dynamo::dynamo_error;
use super::layout::Item;
use super::Store;
use crate::channels::shopify::ShopDomain;
use crate::error::StoreError;
use crate::ids::AccountId;

const SHOP: &str = "shop";
const ACCOUNT: &str = "account";
const SECRET: &str = "webhook_secret";
const IGNORE_TEST_ORDERS: &str = "ignore_test_orders";
const CREATED_AT: &str = "created_at";
const UPDATED_AT: &str = "updated_at";

/// A registered shop.
#[derive(Clone, PartialEq, Eq)]
pub struct Shop {
    pub domain: ShopDomain,
    pub account: AccountId,
    /// The webhook signing secret (`None`: the shop delivers through EventBridge only).
    pub webhook_secret: Option<String>,
    /// `test: true` orders are acknowledged and not finalized.
    pub ignore_test_orders: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl std::fmt::Debug for Shop {
    // Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("domain", &self.domain)
            .field("account", &self.account)
            .field("ignore_test_orders", &self.ignore_test_orders)
            .finish_non_exhaustive()
    }
}

/// What registering a shop did.
#[derive(Debug)]
pub enum PutShop {
    Saved(Shop),
    /// Another account holds the domain: nothing changed.
    Taken,
}

fn shop_of(item: &Item) -> Result<Shop, StoreError> {
    let r = Reader::new(item);
    let domain = ShopDomain::parse(r.str(SHOP)?)
        .map_err(|problem| r.malformed(format!("{SHOP} {problem}")))?;
    let account =
        AccountId::parse(r.str(ACCOUNT)?, ACCOUNT).map_err(|e| r.malformed(e.to_string()))?;
    Ok(Shop {
        domain,
        account,
        webhook_secret: r.opt_str(SECRET)?.map(str::to_owned),
        ignore_test_orders: r.bool_or(IGNORE_TEST_ORDERS, false)?,
        created_at: r.str(CREATED_AT)?.to_owned(),
        updated_at: r.str(UPDATED_AT)?.to_owned(),
    })
}

impl Store {
    fn shops_table(&self) -> Result<&str, StoreError> {
        self.shops_table
            .as_deref()
            .ok_or_else(|| StoreError::Malformed {
                key: "ShopsTable".to_owned(),
                problem: "this function was not given the shops table (SHOPS_TABLE_NAME)"
                    .to_owned(),
            })
    }

    /// The shop registered under `domain` (a consistent read).
    pub async fn shop(&self, domain: &ShopDomain) -> Result<Option<Shop>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.shops_table()?)
            .key(SHOP, s(domain.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        out.item.as_ref().map(shop_of).transpose()
    }

    /// Registers (or updates) `domain` for `account`, unless another account holds it.
    pub async fn put_shop(
        &self,
        domain: &ShopDomain,
        account: &AccountId,
        webhook_secret: Option<&str>,
        ignore_test_orders: bool,
        now: &str,
    ) -> Result<PutShop, StoreError> {
        let mut set = String::from(
            "SET #account = :account, #ignore = :ignore, #updated = :now, \
             #created = if_not_exists(#created, :now)",
        );
        let mut req = self
            .client
            .update_item()
            .table_name(self.shops_table()?)
            .key(SHOP, s(domain.as_str()))
            .condition_expression("attribute_not_exists(#shop) OR #account = :account")
            .expression_attribute_names("#shop", SHOP)
            .expression_attribute_names("#account", ACCOUNT)
            .expression_attribute_names("#ignore", IGNORE_TEST_ORDERS)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_names("#created", CREATED_AT)
            .expression_attribute_names("#secret", SECRET)
            .expression_attribute_values(":account", s(account.as_str()))
            .expression_attribute_values(":ignore", AttributeValue::Bool(ignore_test_orders))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew);
        match webhook_secret {
            Some(secret) => {
                set.push_str(", #secret = :secret");
                req = req.expression_attribute_values(":secret", s(secret));
            }
            None => set.push_str(" REMOVE #secret"),
        }
        match req.update_expression(set).send().await {
            Ok(out) => Ok(PutShop::Saved(shop_of(
                &out.attributes.unwrap_or_default(),
            )?)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(PutShop::Taken)
            }
            Err(e) => Err(dynamo_error("UpdateItem", e)),
        }
    }

    /// Removes `domain` if `account` holds it: false if it does not (absent, or another's).
    pub async fn delete_shop(
        &self,
        domain: &ShopDomain,
        account: &AccountId,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .delete_item()
            .table_name(self.shops_table()?)
            .key(SHOP, s(domain.as_str()))
            .condition_expression("#account = :account")
            .expression_attribute_names("#account", ACCOUNT)
            .expression_attribute_values(":account", s(account.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(dynamo_error("DeleteItem", e)),
        }
    }
}
