//! The sales queue as the local server emulates it: a message sent is delivered to the queue's
//! consumer (`sale-finalize`'s `handle_sqs`, the code Lambda runs) at once, as a batch of one, and
//! delivered again while it fails, up to the template's `maxReceiveCount` (5); then it is logged
//! as a dead letter. So a webhook answered 200 has been applied by the time the answer arrives.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use backorder::channels::queue::{
    Message, QueueError, SalesQueue, ACCOUNT_ATTR, KIND_ATTR, SOURCE_ATTR,
};
use backorder::Store;

/// Deliveries of a message before it counts as a dead letter (the template's `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// The local sales queue, delivering to the consumer on `store`.
#[derive(Debug, Clone, Copy)]
pub struct LocalQueue<'a> {
    store: &'a Store,
}

impl<'a> LocalQueue<'a> {
    pub fn new(store: &'a Store) -> Self {
        LocalQueue { store }
    }
}

fn attribute(value: &str) -> SqsMessageAttribute {
    let mut a = SqsMessageAttribute::default();
    a.string_value = Some(value.to_owned());
    a.data_type = Some("String".to_owned());
    a
}

/// The SQS record Lambda would hand the consumer for `message`.
pub fn sqs_message(message: &Message) -> SqsMessage {
    let mut sqs = SqsMessage::default();
    sqs.message_id = Some(ulid::Ulid::new().to_string());
    sqs.body = Some(message.body.clone());
    for (name, value) in [
        (ACCOUNT_ATTR, message.account.as_str()),
        (KIND_ATTR, message.kind.as_str()),
        (SOURCE_ATTR, message.source),
    ] {
        sqs.message_attributes
            .insert(name.to_owned(), attribute(value));
    }
    sqs
}

impl SalesQueue for LocalQueue<'_> {
    async fn send(&self, message: Message) -> Result<(), QueueError> {
        let record = sqs_message(&message);
        for receive in 1..=MAX_RECEIVES {
            let mut batch = SqsEvent::default();
            batch.records = vec![record.clone()];
            let deadline = Instant::now() + Duration::from_secs(15);
            let answer = Box::pin(fn_sale_finalize::handle_sqs(self.store, batch, deadline)).await;
            if answer.batch_item_failures.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(receive))).await;
        }
        tracing::error!(
            sale_id = %message.sale_id,
            kind = message.kind.as_str(),
            "a queued message failed {MAX_RECEIVES} times: in AWS it would be in the sales dead-letter queue"
        );
        Ok(())
    }
}
