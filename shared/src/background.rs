//! Work that runs after an answer, off its path (a completed sale's markers removed). In Lambda it
//! runs while the runtime sends the answer and waits for the next event, or during the next
//! invocation; nothing depends on it finishing. A caller that wants to see it done (a test, which
//! snapshots the table after each call) runs the call in [`scope`], which waits for what the call
//! spawned.

use std::cell::RefCell;
use std::future::Future;

use tokio::task::JoinHandle;

tokio::task_local! {
    static SPAWNED: RefCell<Vec<JoinHandle<()>>>;
}

/// Runs `work` in the background.
pub fn spawn(work: impl Future<Output = ()> + Send + 'static) {
    let handle = tokio::spawn(work);
    let _ = SPAWNED.try_with(|spawned| spawned.borrow_mut().push(handle));
}

/// Runs `call`, then waits for the background work it spawned.
pub async fn scope<F: Future>(call: F) -> F::Output {
    let (out, spawned) = SPAWNED
        .scope(RefCell::new(Vec::new()), async {
            let out = call.await;
            (out, SPAWNED.with(|s| s.take()))
        })
        .await;
    for handle in spawned {
        let _ = handle.await;
    }
    out
}
