//! Whether a SKU is back-ordered: the account toggle, the SKU's policy and its vendor's default.

use serde::{Deserialize, Serialize};

use crate::ids::VendorId;

/// A SKU's back-order policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackorderPolicy {
    /// Always back-order this SKU (when the account setting is on).
    Backorder,
    /// Inherit the vendor's `auto_backorder_default`.
    #[default]
    VendorDefault,
    /// Never back-order this SKU.
    Never,
}

impl BackorderPolicy {
    pub const ALL: [BackorderPolicy; 3] = [
        BackorderPolicy::Backorder,
        BackorderPolicy::VendorDefault,
        BackorderPolicy::Never,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackorderPolicy::Backorder => "backorder",
            BackorderPolicy::VendorDefault => "vendor_default",
            BackorderPolicy::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Whether finalizing a sale of a SKU raises back-orders for it.
///
/// `vendor_default` is the SKU's vendor's `auto_backorder_default` (false when the SKU has no vendor
/// or the vendor has no settings).
pub fn effective_backorder(
    account_auto_backorder: bool,
    policy: BackorderPolicy,
    vendor_default: bool,
) -> bool {
    account_auto_backorder
        && match policy {
            BackorderPolicy::Backorder => true,
            BackorderPolicy::VendorDefault => vendor_default,
            BackorderPolicy::Never => false,
        }
}

/// Whether deciding `effective_backorder` for this SKU needs its vendor's settings.
pub fn needs_vendor_settings(
    account_auto_backorder: bool,
    policy: BackorderPolicy,
    vendor: Option<&VendorId>,
) -> bool {
    account_auto_backorder && policy == BackorderPolicy::VendorDefault && vendor.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_matrix() {
        use BackorderPolicy::*;
        for account in [false, true] {
            for policy in BackorderPolicy::ALL {
                for vendor in [false, true] {
                    let expected =
                        account && (policy == Backorder || (policy == VendorDefault && vendor));
                    assert_eq!(
                        effective_backorder(account, policy, vendor),
                        expected,
                        "{account} {policy:?} {vendor}"
                    );
                }
            }
        }
    }

    #[test]
    fn vendor_settings_are_needed_only_for_vendor_default_with_a_vendor() {
        let v = VendorId::parse("v", "vendor_id").unwrap();
        assert!(needs_vendor_settings(
            true,
            BackorderPolicy::VendorDefault,
            Some(&v)
        ));
        assert!(!needs_vendor_settings(
            false,
            BackorderPolicy::VendorDefault,
            Some(&v)
        ));
        assert!(!needs_vendor_settings(
            true,
            BackorderPolicy::VendorDefault,
            None
        ));
        assert!(!needs_vendor_settings(
            true,
            BackorderPolicy::Backorder,
            Some(&v)
        ));
    }
}
