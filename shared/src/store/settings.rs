//! Account and vendor settings.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::{s, Reader};
use super::dynamo::dynamo_error;
use super::layout::*;
use super::Store;
use crate::error::StoreError;
use crate::ids::{AccountId, VendorId};

/// A vendor's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VendorSettings {
    /// Its SKUs under `vendor_default` back-order when this is on.
    pub auto_backorder_default: bool,
    /// Days from an order's close to its expected arrival (`None`: unknown).
    pub lead_time_days: Option<i64>,
    /// Units per case its orders are rounded up to (`None`: 1).
    pub pack_size: Option<i64>,
    /// The smallest order it takes, in units (`None`: 0).
    pub min_order_units: Option<i64>,
}

/// A change of a vendor's settings: each field given is set (`Some(None)` clears a number), the
/// others stay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VendorChange {
    pub auto_backorder_default: Option<bool>,
    pub lead_time_days: Option<Option<i64>>,
    pub pack_size: Option<Option<i64>>,
    pub min_order_units: Option<Option<i64>>,
}

impl VendorChange {
    pub fn is_empty(&self) -> bool {
        *self == VendorChange::default()
    }
}

fn vendor_from_item(item: &Item) -> Result<VendorSettings, StoreError> {
    let r = Reader::new(item);
    Ok(VendorSettings {
        auto_backorder_default: r.bool_or(AUTO_BACKORDER_DEFAULT, false)?,
        lead_time_days: r.opt_i64(LEAD_TIME_DAYS)?,
        pack_size: r.opt_i64(PACK_SIZE)?,
        min_order_units: r.opt_i64(MIN_ORDER_UNITS)?,
    })
}

impl Store {
    /// A boolean setting of the item `key` (false when the item or attribute is absent).
    async fn flag(&self, key: Item, attr: &str) -> Result<bool, StoreError> {
        match self.get(key).await? {
            Some(item) => Reader::new(&item).bool_or(attr, false),
            None => Ok(false),
        }
    }

    /// Sets a boolean setting of the item `key`, creating it if needed.
    async fn set_flag(&self, key: Item, attr: &str, on: bool, now: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET #a = :a, #u = :now")
            .expression_attribute_names("#a", attr)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":a", AttributeValue::Bool(on))
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        Ok(())
    }

    pub async fn account_auto_backorder(&self, account: &AccountId) -> Result<bool, StoreError> {
        self.flag(settings_key(account), AUTO_BACKORDER).await
    }

    pub async fn set_account_auto_backorder(
        &self,
        account: &AccountId,
        on: bool,
        now: &str,
    ) -> Result<(), StoreError> {
        self.set_flag(settings_key(account), AUTO_BACKORDER, on, now)
            .await
    }

    /// A vendor's settings (defaults when it has none).
    pub async fn vendor_settings(
        &self,
        account: &AccountId,
        vendor: &VendorId,
    ) -> Result<VendorSettings, StoreError> {
        match self.get(vendor_key(account, vendor)).await? {
            Some(item) => vendor_from_item(&item),
            None => Ok(VendorSettings::default()),
        }
    }

    /// Sets a vendor's settings: each one given, the others as they are. Answers the settings as
    /// they stand after.
    pub async fn set_vendor_settings(
        &self,
        account: &AccountId,
        vendor: &VendorId,
        change: VendorChange,
        now: &str,
    ) -> Result<VendorSettings, StoreError> {
        let mut set = vec!["#u = :now".to_owned()];
        let mut remove = Vec::new();
        let mut req = self
            .update_item(vendor_key(account, vendor))
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":now", s(now))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if let Some(on) = change.auto_backorder_default {
            set.push("#abd = :abd".to_owned());
            req = req
                .expression_attribute_names("#abd", AUTO_BACKORDER_DEFAULT)
                .expression_attribute_values(":abd", AttributeValue::Bool(on));
        }
        let numbers = [
            ("lt", LEAD_TIME_DAYS, change.lead_time_days),
            ("ps", PACK_SIZE, change.pack_size),
            ("mo", MIN_ORDER_UNITS, change.min_order_units),
        ];
        for (tag, attr, value) in numbers {
            match value {
                None => continue,
                Some(Some(v)) => {
                    set.push(format!("#{tag} = :{tag}"));
                    req = req.expression_attribute_values(format!(":{tag}"), super::codec::n(v));
                }
                Some(None) => remove.push(format!("#{tag}")),
            }
            req = req.expression_attribute_names(format!("#{tag}"), attr);
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let out = req
            .update_expression(expr)
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        vendor_from_item(&out.attributes.unwrap_or_default())
    }

    /// The account's `auto_backorder` and, when `vendor` is given, that vendor's
    /// `auto_backorder_default` (false when absent), in one batched read.
    pub async fn account_and_vendor_flags(
        &self,
        account: &AccountId,
        vendor: Option<&VendorId>,
    ) -> Result<(bool, bool), StoreError> {
        let mut keys = vec![settings_key(account)];
        keys.extend(vendor.map(|v| vendor_key(account, v)));
        let (mut account_on, mut vendor_on) = (false, false);
        for item in &self.batch_get(keys).await? {
            let r = Reader::new(item);
            if r.str(SK)? == SETTINGS_SK {
                account_on = r.bool_or(AUTO_BACKORDER, false)?;
            } else {
                vendor_on = r.bool_or(AUTO_BACKORDER_DEFAULT, false)?;
            }
        }
        Ok((account_on, vendor_on))
    }

    /// Vendors' `auto_backorder_default`, in one batched read; vendors without settings are false.
    pub async fn vendor_defaults(
        &self,
        account: &AccountId,
        vendors: &[VendorId],
    ) -> Result<HashMap<VendorId, bool>, StoreError> {
        let mut out: HashMap<VendorId, bool> = vendors.iter().map(|v| (v.clone(), false)).collect();
        if vendors.is_empty() {
            return Ok(out);
        }
        let items = self
            .batch_get(vendors.iter().map(|v| vendor_key(account, v)).collect())
            .await?;
        for item in &items {
            let r = Reader::new(item);
            if let Some(vendor) = vendor_of_sort_key(r.str(SK)?) {
                if let Ok(v) = VendorId::parse(vendor, VENDOR_ID) {
                    out.insert(v, r.bool_or(AUTO_BACKORDER_DEFAULT, false)?);
                }
            }
        }
        Ok(out)
    }
}
