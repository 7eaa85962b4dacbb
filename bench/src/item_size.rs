//! The size of a DynamoDB item by DynamoDB's documented rules (what its writes are billed by: one
//! write unit per KB or part of one), and a sampler of one item's size while a round runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Bytes of a number: about one per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// An item's size: each attribute's name and value.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// The largest size one item reached, and the most line markers (`~` attributes) it held at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Peak {
    pub bytes: usize,
    pub markers: usize,
    /// Its size with no marker and no closed order's version on it.
    pub base: usize,
    pub samples: usize,
}

/// Reads the item at `key` (consistently, off the fault layer) every 5 ms until `stop`.
pub fn sample(
    client: aws_sdk_dynamodb::Client,
    table: String,
    key: HashMap<String, AttributeValue>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Peak> {
    tokio::spawn(async move {
        let mut peak = Peak::default();
        while !stop.load(Ordering::Relaxed) {
            let got = client
                .get_item()
                .table_name(&table)
                .set_key(Some(key.clone()))
                .consistent_read(true)
                .send()
                .await;
            if let Some(item) = got.ok().and_then(|o| o.item) {
                peak.samples += 1;
                let size = item_size(&item);
                let markers = item.keys().filter(|k| k.starts_with('~')).count();
                let base: HashMap<String, AttributeValue> = item
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with(['~', '^']) && !k.starts_with("cc#"))
                    .collect();
                peak.base = peak.base.max(item_size(&base));
                if size > peak.bytes {
                    peak.bytes = size;
                }
                peak.markers = peak.markers.max(markers);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        peak
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        assert_eq!(number_size("-3"), 2);
        assert_eq!(number_size("123456"), 4);
        assert_eq!(number_size("1000"), 2);
        let item: HashMap<String, AttributeValue> = [
            ("on_hand".to_owned(), AttributeValue::N("-12".into())),
            ("sk".to_owned(), AttributeValue::S("SKU#HOT".into())),
        ]
        .into_iter()
        .collect();
        assert_eq!(item_size(&item), 7 + 2 + 2 + 7);
    }
}
