//! Account and vendor settings.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::{s, Reader};
use super::dynamo::dynamo_error;
use super::layout::*;
use super::Store;
use crate::error::StoreError;
use crate::ids::{AccountId, VendorId};

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

    pub async fn vendor_auto_backorder_default(
        &self,
        account: &AccountId,
        vendor: &VendorId,
    ) -> Result<bool, StoreError> {
        self.flag(vendor_key(account, vendor), AUTO_BACKORDER_DEFAULT)
            .await
    }

    pub async fn set_vendor_auto_backorder_default(
        &self,
        account: &AccountId,
        vendor: &VendorId,
        on: bool,
        now: &str,
    ) -> Result<(), StoreError> {
        self.set_flag(vendor_key(account, vendor), AUTO_BACKORDER_DEFAULT, on, now)
            .await
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
