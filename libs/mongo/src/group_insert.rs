//! Ordered inserts from many tasks into one collection, combined into few commands (a group
//! commit): each command costs the server a round trip and a write-concern wait whatever it
//! carries, so a few documents from each of many writers are cheaper sent together.

use std::collections::VecDeque;

use mongodb::Collection;
use mongodb::error::{Error, ErrorKind, Result};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// Most documents one combined command carries (the driver splits past the server's limits
/// anyway; this bounds how long one command, and so every caller in it, waits).
pub const DOCUMENTS_PER_COMMAND: usize = 1000;

/// A caller's documents and where its answer goes.
struct Request<T> {
    docs: Vec<T>,
    done: oneshot::Sender<Result<()>>,
}

/// A handle on one collection's insert task: every [`GroupInsert::insert`] waiting while a
/// command is under way goes in the next one. Clones share the task; it ends with the last.
pub struct GroupInsert<T> {
    tx: mpsc::Sender<Request<T>>,
}

impl<T> Clone for GroupInsert<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<T: Serialize + Send + Sync + 'static> GroupInsert<T> {
    /// Starts the task inserting into `coll` (with the collection's write concern). Needs a
    /// tokio runtime.
    pub fn start(coll: Collection<T>) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(coll, rx));
        Self { tx }
    }

    /// Inserts `docs` in order, as one ordered `insert_many` of them alone would: on an error,
    /// the documents before the one that failed are stored and the ones after it are not (an
    /// error without a failed document, such as a lost connection or a write-concern error,
    /// may have stored any prefix: read back what is there). Another caller's failure in the
    /// same command never fails these.
    pub async fn insert(&self, docs: Vec<T>) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        let stopped = || Error::from(std::io::Error::other("the insert task has stopped"));
        self.tx.send(Request { docs, done }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run<T: Serialize + Send + Sync>(coll: Collection<T>, mut rx: mpsc::Receiver<Request<T>>) {
    let mut queue: VecDeque<Request<T>> = VecDeque::new();
    let writers = metrics::histogram!("mongo_insert_writers", "collection" => coll.name().to_owned());
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(r) => queue.push_back(r),
                None => return,
            }
        }
        while let Ok(r) = rx.try_recv() {
            queue.push_back(r);
        }
        // Whole requests, oldest first, up to the command's bound (at least one).
        let mut round = Vec::new();
        let mut docs = 0;
        while let Some(r) = queue.front() {
            if !round.is_empty() && docs + r.docs.len() > DOCUMENTS_PER_COMMAND {
                break;
            }
            docs += r.docs.len();
            round.extend(queue.pop_front());
        }
        #[allow(clippy::cast_precision_loss)] // a few thousand at most
        writers.record(round.len() as f64);
        let slices: Vec<&[T]> = round.iter().map(|r| r.docs.as_slice()).collect();
        let outcomes = insert_round(&coll, &slices).await;
        // The requests the command never reached go first in the next one, in their order.
        let mut again = Vec::new();
        for (request, outcome) in round.into_iter().zip(outcomes) {
            match outcome {
                Some(result) => {
                    let _ = request.done.send(result);
                }
                None => again.push(request),
            }
        }
        for request in again.into_iter().rev() {
            queue.push_front(request);
        }
    }
}

/// Inserts every request's documents as one ordered command and says how each request ended:
/// `Some(Ok)` stored, `Some(Err)` stopped (see [`GroupInsert::insert`]), `None` not reached
/// (a document of an earlier request failed, so nothing of this one was tried).
pub async fn insert_round<T: Serialize + Send + Sync>(
    coll: &Collection<T>,
    requests: &[&[T]],
) -> Vec<Option<Result<()>>> {
    let Err(e) = coll.insert_many(requests.iter().flat_map(|r| r.iter())).ordered(true).await else {
        return requests.iter().map(|_| Some(Ok(()))).collect();
    };
    // The document an ordered insert stopped at, when one did.
    let failed = match e.kind.as_ref() {
        ErrorKind::InsertMany(m) if m.write_concern_error.is_none() => {
            m.write_errors.as_ref().and_then(|w| w.iter().map(|w| w.index).min())
        }
        _ => None,
    };
    let Some(failed) = failed else {
        return requests.iter().map(|_| Some(Err(e.clone()))).collect();
    };
    let mut start = 0;
    requests
        .iter()
        .map(|r| {
            let end = start + r.len();
            let outcome = if end <= failed {
                Some(Ok(()))
            } else if start <= failed {
                Some(Err(e.clone()))
            } else {
                None
            };
            start = end;
            outcome
        })
        .collect()
}
