//! Per-socket order of sends. socketioxide runs every event in a task of its own, so two quick
//! sends from one socket could reach Kafka in either order and swap seqs. It does, however,
//! extract each event's arguments in arrival order, before spawning: a [`Turn`] taken there is
//! the send's place in its socket's line, and a send produces only when the sends before it
//! are done producing (or gave up).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use socketioxide::adapter::Adapter;
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use tokio::sync::watch;

/// One socket's line of sends (in its extensions).
#[derive(Clone, Default)]
pub struct Line(Arc<LineInner>);

#[derive(Default)]
struct LineInner {
    next: AtomicU64,
    /// Tickets finished ahead of their turn.
    done: Mutex<BTreeSet<u64>>,
    serving: watch::Sender<u64>,
}

/// A send's place in its socket's line; finishing (or dropping) it lets the next one go.
pub struct Turn {
    line: Line,
    ticket: u64,
    finished: bool,
}

impl<A: Adapter> FromMessageParts<A> for Turn {
    type Error = Infallible;

    fn from_message_parts(s: &Arc<Socket<A>>, _: &mut Value, _: &Option<i64>) -> Result<Self, Infallible> {
        let line = s.extensions.get::<Line>().unwrap_or_else(|| {
            let line = Line::default();
            s.extensions.insert(line.clone());
            line
        });
        let ticket = line.0.next.fetch_add(1, Ordering::SeqCst);
        Ok(Turn { line, ticket, finished: false })
    }
}

impl Turn {
    /// Waits until every earlier send of the socket has finished its turn.
    pub async fn wait(&self) {
        let mut serving = self.line.0.serving.subscribe();
        let _ = serving.wait_for(|s| *s >= self.ticket).await;
    }

    /// Ends this turn: the next send may produce.
    pub fn finish(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let inner = &self.line.0;
        let Ok(mut done) = inner.done.lock() else { return };
        done.insert(self.ticket);
        inner.serving.send_modify(|serving| {
            while done.remove(serving) {
                *serving += 1;
            }
        });
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(line: &Line) -> Turn {
        Turn { line: line.clone(), ticket: line.0.next.fetch_add(1, Ordering::SeqCst), finished: false }
    }

    #[tokio::test]
    async fn later_turns_wait_for_earlier_ones_even_when_they_finish_first() {
        let line = Line::default();
        let (first, second, third) = (turn(&line), turn(&line), turn(&line));
        let order = Arc::new(Mutex::new(Vec::new()));
        let run = |t: Turn, n: u32| {
            let order = order.clone();
            tokio::spawn(async move {
                t.wait().await;
                order.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(n);
                t.finish();
            })
        };
        // Started last first: each still goes in its place.
        let (c, b) = (run(third, 3), run(second, 2));
        tokio::task::yield_now().await;
        let a = run(first, 1);
        for h in [c, b, a] {
            assert!(h.await.is_ok());
        }
        assert_eq!(*order.lock().unwrap_or_else(std::sync::PoisonError::into_inner), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn a_turn_given_up_does_not_hold_the_line() {
        let line = Line::default();
        let (first, second) = (turn(&line), turn(&line));
        drop(first);
        let waited = tokio::time::timeout(std::time::Duration::from_secs(1), second.wait()).await;
        assert!(waited.is_ok(), "the second send waited for one that gave up");
    }
}
