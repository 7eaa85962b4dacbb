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
