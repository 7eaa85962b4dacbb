//! The shops a channel delivers from: registered for an account with the webhook secret that signs
//! their deliveries; shown without it.

use serde::Serialize;

use crate::channels::shopify::ShopDomain;
use crate::error::StoreError;
use crate::ids::AccountId;
use crate::store::{PutShop, Shop, Store};

use super::now_rfc3339;

/// Why a shop was not registered, shown or removed.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    #[error("shop_domain {0} is registered by another account")]
    Taken(ShopDomain),
    #[error("shop_domain {0} is not registered for this account")]
    NotFound(ShopDomain),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A shop as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShopView {
    pub shop_domain: String,
    /// Whether a webhook secret is set (webhooks of a shop without one are refused).
    pub webhook_secret_set: bool,
    pub ignore_test_orders: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Shop> for ShopView {
    fn from(shop: &Shop) -> Self {
        ShopView {
            shop_domain: shop.domain.to_string(),
            webhook_secret_set: shop.webhook_secret.is_some(),
            ignore_test_orders: shop.ignore_test_orders,
            created_at: shop.created_at.clone(),
            updated_at: shop.updated_at.clone(),
        }
    }
}

/// What registering a shop sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopSettings {
    pub webhook_secret: Option<String>,
    pub ignore_test_orders: bool,
}

/// Registers `domain` for `account` (or replaces its settings), unless another account holds it.
pub async fn put_shop(
    store: &Store,
    account: &AccountId,
    domain: &ShopDomain,
    settings: &ShopSettings,
) -> Result<ShopView, ShopError> {
    let now = now_rfc3339();
    match store
        .put_shop(
            domain,
            account,
            settings.webhook_secret.as_deref(),
            settings.ignore_test_orders,
            &now,
        )
        .await?
    {
        PutShop::Saved(shop) => Ok(ShopView::from(&shop)),
        PutShop::Taken => Err(ShopError::Taken(domain.clone())),
    }
}

/// The shop, if `account` holds it (another account's shop is not found, as an absent one).
pub async fn get_shop(
    store: &Store,
    account: &AccountId,
    domain: &ShopDomain,
) -> Result<ShopView, ShopError> {
    match store.shop(domain).await? {
        Some(shop) if &shop.account == account => Ok(ShopView::from(&shop)),
        _ => Err(ShopError::NotFound(domain.clone())),
    }
}

/// Removes the shop if `account` holds it.
pub async fn delete_shop(
    store: &Store,
    account: &AccountId,
    domain: &ShopDomain,
) -> Result<(), ShopError> {
    if store.delete_shop(domain, account).await? {
        Ok(())
    } else {
        Err(ShopError::NotFound(domain.clone()))
    }
}
