//! Creating a regular (manual) order: idempotent per `request_id`.

use crate::domain::{NewRegularOrder, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, RequestId, Sku};
use crate::retry::{with_retries, Attempt};
use crate::store::Store;

use super::now_rfc3339;

/// Why no order was created.
#[derive(Debug, thiserror::Error)]
pub enum RegularOrderError {
    /// The request id was used before to create another order.
    #[error("request_id {0} was already used to create another order")]
    Conflict(RequestId),
    #[error("sku {0} is not a known SKU")]
    UnknownSku(Sku),
    /// Vendors sell whole cases: the quantity must be a multiple of the SKU's pack size.
    #[error(
        "quantity must be a multiple of the pack size {pack_size} (the nearest above is {nearest})"
    )]
    NotWholePacks { pack_size: i64, nearest: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a regular (manual) order: open, untagged, never merged into by sales, closable and
/// receivable like the others. With a `request_id`, a retry returns the order the first call
/// created (`false`: not created now); the id reused for another order is a conflict.
pub async fn create_regular_order(
    store: &Store,
    account: &AccountId,
    new: &NewRegularOrder,
) -> Result<(Replenishment, bool), RegularOrderError> {
    let fingerprint = new.fingerprint();
    let fingerprint = fingerprint.as_str();
    with_retries("regular order", || async move {
        if let Some(request) = &new.request_id {
            if let Some((rid, seen)) = store.order_request(account, request).await? {
                if seen != fingerprint {
                    return Err(RegularOrderError::Conflict(request.clone()));
                }
                let malformed = |problem: &str| StoreError::Malformed {
                    key: rid.clone(),
                    problem: problem.to_owned(),
                };
                let id = ReplenishmentId::parse(rid.clone(), "replenishment_id")
                    .map_err(|_| malformed("invalid order id"))?;
                let order = store
                    .order(account, &id)
                    .await?
                    .ok_or_else(|| malformed("request record without its order"))?;
                return Ok(Attempt::Done((order, false)));
            }
        }
        let sku = store
            .sku(account, &new.sku)
            .await?
            .ok_or_else(|| RegularOrderError::UnknownSku(new.sku.clone()))?;
        let vendor = new.vendor_id.clone().or(sku.state.vendor_id);
        // The SKU's own pack size, else its vendor's (one more read only then).
        let pack_size = match (sku.state.pack_size, &vendor) {
            (Some(p), _) => p,
            (None, Some(v)) => store
                .vendor_settings(account, v)
                .await?
                .pack_size
                .unwrap_or(1),
            (None, None) => 1,
        };
        if new.quantity % pack_size != 0 {
            return Err(RegularOrderError::NotWholePacks {
                pack_size,
                nearest: crate::domain::ordered_quantity(new.quantity, pack_size, 0),
            });
        }
        let request = new.request_id.as_ref().map(|r| (r, fingerprint));
        Ok(
            match store
                .create_regular_order(
                    account,
                    &ReplenishmentId::generate(),
                    &new.sku,
                    vendor.as_ref(),
                    new.quantity,
                    request,
                    &now_rfc3339(),
                )
                .await
            {
                Ok(order) => Attempt::Done((order, true)),
                Err(e) => e.into_attempt()?,
            },
        )
    })
    .await
}
