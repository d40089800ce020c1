//! The `chat` scenario: G groups × M members, one socket each, spread over the nodes; sends at
//! a fixed rate whatever the server's pace (open loop), with typing and seen mixed in; every
//! delivery checked against what was acknowledged: lost, duplicated, out of order per member.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::procs::Watch;
use crate::report::{self, ChatStep, Cpu, Latency, Tick};
use crate::setup::{Endpoint, Population};
use crate::sio::{self, Event, Socket};

/// Knobs of the chat scenario.
#[derive(Clone, Debug, clap::Args)]
pub struct ChatArgs {
    /// Groups.
    #[arg(long, default_value_t = 10)]
    pub groups: usize,
    /// Members per group (each its own user and socket).
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Messages per second, all groups together.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Seconds of sending in the main step.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Message content size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// A `chat.typing` before every Nth send (0: none).
    #[arg(long, default_value_t = 5)]
    pub typing_every: u64,
    /// Each member marks every Nth message it receives seen (0: never).
    #[arg(long, default_value_t = 5)]
    pub seen_every: u64,
    /// Seconds a send may wait for its acknowledgement (longer than the chat node's own 10 s,
    /// so a node that gives up is heard: SERVER_ERROR, not silence).
    #[arg(long, default_value_t = 15.0)]
    pub ack_timeout: f64,
    /// Seconds to wait, after the last send, for acknowledgements and deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// The p99 send→deliver a step must stay under to pass.
    #[arg(long, default_value_t = 100.0)]
    pub p99_target_ms: f64,
    /// Rates for further steps after the main one (comma-separated), to find the highest rate
    /// that still passes; stops at the first that fails.
    #[arg(long, value_delimiter = ',')]
    pub ramp: Vec<f64>,
    /// Seconds of each ramp step.
    #[arg(long, default_value_t = 15.0)]
    pub ramp_duration: f64,
}

/// Where a send stands.
const PENDING: u8 = 0;
const ACKED: u8 = 1;
const FAILED: u8 = 2;

struct Slot {
    scheduled_us: AtomicU64,
    status: AtomicU8,
    sender: AtomicU64,
}

/// One step's shared counters.
struct Step {
    index: u32,
    slots: Vec<Slot>,
    sent: AtomicU64,
    acked: AtomicU64,
    timed_out: AtomicU64,
    pending: AtomicU64,
    expected: AtomicU64,
    delivered: AtomicU64,
    duplicated: AtomicU64,
    out_of_order: AtomicU64,
    receipt_events: AtomicU64,
    other_events: AtomicU64,
    ordered: AtomicU8,
    failed: Mutex<BTreeMap<String, u64>>,
    /// Client message ids of the first sends that got no acknowledgement.
    unanswered: Mutex<Vec<String>>,
    hist: Mutex<(Histogram<u64>, Histogram<u64>)>,
}

/// What a member has received in the current step.
#[derive(Default)]
struct Received {
    step: u32,
    counts: Vec<u8>,
    last_seq: u64,
    n: u64,
}

struct Run {
    id: String,
    start: Instant,
    step: RwLock<Arc<Step>>,
    timeline: Mutex<Vec<Histogram<u64>>>,
    seen_every: u64,
}

struct Member {
    group: usize,
    socket: Arc<Socket>,
    received: Arc<Mutex<Received>>,
}

/// Runs the scenario; returns the steps measured and the run's timeline.
pub async fn run(
    end: &Endpoint,
    args: &ChatArgs,
    watch: &Watch,
    bound: Instant,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(Vec<ChatStep>, Vec<Tick>)> {
    progress.set_message(format!("registering {} users, making {} groups", args.groups * args.members, args.groups));
    let pop = end.population(args.groups, args.members).await?;
    let run = Arc::new(Run {
        id: end.run_id.clone(),
        start: Instant::now(),
        step: RwLock::new(Arc::new(new_step(0, 0))),
        timeline: Mutex::new(Vec::new()),
        seen_every: args.seen_every,
    });
    progress.set_message("connecting sockets".to_owned());
    let members = connect_all(end, &pop, &run).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut steps = Vec::new();
    let mut plan = vec![("main".to_owned(), args.rate, args.duration)];
    plan.extend(args.ramp.iter().map(|&r| (format!("ramp {r:.0}/s"), r, args.ramp_duration)));
    for (i, (label, rate, duration)) in plan.into_iter().enumerate() {
        if Instant::now() + Duration::from_secs_f64(duration + args.drain) > bound {
            eprintln!("skipping step {label}: it would run past --max-seconds");
            break;
        }
        let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let step = one_step(args, watch, &run, &pop, &members, index, &label, rate, duration, progress).await?;
        let pass = step.pass;
        steps.push(step);
        if !pass && i > 0 {
            break;
        }
    }
    for m in &members {
        m.socket.close();
    }
    let timeline = run
        .timeline
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty())
        .map(|(s, h)| {
            let l = Latency::of(h);
            #[allow(clippy::cast_precision_loss)]
            (s as f64, l.p50_ms, l.p99_ms, l.max_ms, h.len())
        })
        .collect();
    Ok((steps, timeline))
}

fn new_step(index: u32, capacity: usize) -> Step {
    Step {
        index,
        slots: (0..capacity)
            .map(|_| Slot {
                scheduled_us: AtomicU64::new(0),
                status: AtomicU8::new(PENDING),
                sender: AtomicU64::new(0),
            })
            .collect(),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        timed_out: AtomicU64::new(0),
        pending: AtomicU64::new(0),
        expected: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        duplicated: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        receipt_events: AtomicU64::new(0),
        other_events: AtomicU64::new(0),
        ordered: AtomicU8::new(0),
        failed: Mutex::new(BTreeMap::new()),
        unanswered: Mutex::new(Vec::new()),
        hist: Mutex::new((report::histogram(), report::histogram())),
    }
}

async fn connect_all(end: &Endpoint, pop: &Population, run: &Arc<Run>) -> anyhow::Result<Vec<Member>> {
    let mut members = Vec::with_capacity(pop.users.len());
    let mut tasks = Vec::new();
    for (g, (group_id, idx)) in pop.groups.iter().enumerate() {
        for &u in idx {
            let (target, auth) = (end.target(u), end.auth(&pop.users[u], &[group_id]));
            let received = Arc::new(Mutex::new(Received::default()));
            let (run, rec) = (run.clone(), received.clone());
            tasks.push((
                g,
                received,
                tokio::spawn(async move {
                    sio::connect(&target, &auth, Duration::from_secs(20), move |s, e| on_event(&run, &rec, s, e)).await
                }),
            ));
        }
    }
    for (group, received, task) in tasks {
        let socket = task.await.context("connect task")?.context("connecting a socket")?;
        members.push(Member { group, socket, received });
    }
    Ok(members)
}

fn on_event(run: &Run, received: &Mutex<Received>, socket: &Socket, event: Event<'_>) {
    let data = match event {
        Event::Message("chat.message.incoming", data) => data,
        Event::Message(name, _) => {
            if let Ok(step) = run.step.read() {
                let receipt = matches!(name, "chat.message.delivered" | "chat.message.seen");
                let count = if receipt { &step.receipt_events } else { &step.other_events };
                count.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        _ => return,
    };
    let now_us = u64::try_from(run.start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let Some(id) = data["clientMsgId"].as_str() else { return };
    let mut parts = id.split(':');
    let (Some(rid), Some(step_no), Some(k)) = (parts.next(), parts.next(), parts.next()) else { return };
    if rid != run.id {
        return;
    }
    let (Ok(step_no), Ok(k)) = (step_no.parse::<u32>(), k.parse::<usize>()) else { return };
    let step = match run.step.read() {
        Ok(s) => s.clone(),
        Err(_) => return,
    };
    if step_no != step.index || k >= step.slots.len() {
        return; // a late delivery of an earlier step: that step's figures are closed
    }
    let latency = now_us.saturating_sub(step.slots[k].scheduled_us.load(Ordering::Relaxed)).max(1);
    let Ok(mut r) = received.lock() else { return };
    if r.step != step_no {
        *r = Received { step: step_no, counts: Vec::new(), last_seq: 0, n: 0 };
    }
    if r.counts.len() <= k {
        r.counts.resize(k + 1024, 0);
    }
    r.counts[k] = r.counts[k].saturating_add(1);
    let first = r.counts[k] == 1;
    if first {
        step.delivered.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = step.hist.lock() {
            let _ = h.0.record(latency);
        }
        if let Ok(mut t) = run.timeline.lock() {
            let sec = usize::try_from(now_us / 1_000_000).unwrap_or(0);
            if t.len() <= sec {
                t.resize_with(sec + 1, report::histogram);
            }
            let _ = t[sec].record(latency);
        }
    } else {
        step.duplicated.fetch_add(1, Ordering::Relaxed);
    }
    let seq = data["seq"].as_u64();
    if let Some(seq) = seq {
        step.ordered.store(1, Ordering::Relaxed);
        if first {
            if seq <= r.last_seq {
                step.out_of_order.fetch_add(1, Ordering::Relaxed);
            } else {
                r.last_seq = seq;
            }
        }
    }
    r.n += 1;
    if run.seen_every > 0 && r.n.is_multiple_of(run.seen_every) {
        socket.emit("chat.message.seen", &json!({ "groupId": data["groupId"], "seq": seq.unwrap_or(0) }));
    }
}

#[allow(
    clippy::too_many_arguments,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
async fn one_step(
    args: &ChatArgs,
    watch: &Watch,
    run: &Arc<Run>,
    pop: &Population,
    members: &[Member],
    index: u32,
    label: &str,
    rate: f64,
    duration: f64,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<ChatStep> {
    let total = (rate * duration).ceil() as usize;
    let step = Arc::new(new_step(index, total));
    *run.step.write().map_err(|_| anyhow::anyhow!("poisoned"))? = step.clone();
    let content: String = "x".repeat(args.size.max(1));
    let (before, own0) = (watch.sample(), crate::procs::own().0);
    let started = Instant::now();
    let ack_timeout = Duration::from_secs_f64(args.ack_timeout);
    let group_size = |g: usize| u64::try_from(pop.groups[g].1.len().saturating_sub(1)).unwrap_or(0);
    // Senders take turns across groups so that consecutive sends hit different partitions.
    let (g_count, m_count) = (pop.groups.len(), members.len() / pop.groups.len().max(1));
    let ticker = spawn_progress(step.clone(), members.len(), started, progress.clone(), label.to_owned());
    for k in 0..total {
        let due = started + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let slot = &step.slots[k];
        slot.scheduled_us.store(u64::try_from((due - run.start).as_micros()).unwrap_or(0), Ordering::Relaxed);
        let sender_idx = (k % g_count) * m_count + (k / g_count) % m_count;
        let member = &members[sender_idx];
        slot.sender.store(sender_idx as u64, Ordering::Relaxed);
        let group_id = &pop.groups[member.group].0;
        if args.typing_every > 0 && (k as u64).is_multiple_of(args.typing_every) {
            member.socket.emit("chat.typing", &json!({ "groupId": group_id, "isTyping": true }));
        }
        let payload = json!({
            "groupId": group_id,
            "content": content,
            "clientMsgId": format!("{}:{index}:{k}", run.id),
        });
        let rx = member.socket.emit_ack("chat.message.send", &payload);
        step.sent.fetch_add(1, Ordering::Relaxed);
        step.pending.fetch_add(1, Ordering::Relaxed);
        let (step, run, others) = (step.clone(), run.clone(), group_size(member.group));
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(ack_timeout, rx).await;
            let slot = &step.slots[k];
            match outcome {
                Ok(Ok(v)) if v["ok"] == Value::Bool(true) => {
                    let at = u64::try_from(run.start.elapsed().as_micros()).unwrap_or(0);
                    let latency = at.saturating_sub(slot.scheduled_us.load(Ordering::Relaxed)).max(1);
                    if let Ok(mut h) = step.hist.lock() {
                        let _ = h.1.record(latency);
                    }
                    slot.status.store(ACKED, Ordering::Relaxed);
                    step.expected.fetch_add(others, Ordering::Relaxed);
                    step.acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Ok(v)) => {
                    slot.status.store(FAILED, Ordering::Relaxed);
                    let code = v["error"]["code"].as_str().unwrap_or("MALFORMED_ACK").to_owned();
                    if let Ok(mut f) = step.failed.lock() {
                        *f.entry(code).or_default() += 1;
                    }
                }
                Ok(Err(_)) => {
                    slot.status.store(FAILED, Ordering::Relaxed);
                    if let Ok(mut f) = step.failed.lock() {
                        *f.entry("DISCONNECTED".into()).or_default() += 1;
                    }
                }
                Err(_) => {
                    slot.status.store(FAILED, Ordering::Relaxed);
                    step.timed_out.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut u) = step.unanswered.lock()
                        && u.len() < 20
                    {
                        u.push(format!("{}:{index}:{k}", run.id));
                    }
                }
            }
            step.pending.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let send_secs = started.elapsed().as_secs_f64();
    // Drain: every acknowledgement settled and every expected delivery in, or time is up.
    let drain_until = Instant::now() + Duration::from_secs_f64(args.drain);
    while Instant::now() < drain_until {
        let settled = step.pending.load(Ordering::Relaxed) == 0;
        if settled && step.delivered.load(Ordering::Relaxed) >= step.expected.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (after, own1) = (watch.sample(), crate::procs::own().0);
    ticker.abort();

    // Lost: an acknowledged message some other member of its group never received.
    let mut lost = 0u64;
    let received: Vec<_> = members.iter().map(|m| m.received.lock().map(|r| (r.step, r.counts.clone()))).collect();
    let mut unacked_delivered = 0u64;
    for (k, slot) in step.slots.iter().enumerate() {
        let sender = usize::try_from(slot.sender.load(Ordering::Relaxed)).unwrap_or(0);
        let group = members[sender].group;
        if slot.status.load(Ordering::Relaxed) != ACKED {
            // Stored and fanned out although its sender heard nothing (or an error)?
            let seen = pop.groups[group].1.iter().any(|&m| match &received[m] {
                Ok((s, counts)) if *s == index => counts.get(k).copied().unwrap_or(0) > 0,
                _ => false,
            });
            unacked_delivered += u64::from(seen);
            continue;
        }
        for &m in &pop.groups[group].1 {
            if m == sender {
                continue;
            }
            let got = match &received[m] {
                Ok((s, counts)) if *s == index => counts.get(k).copied().unwrap_or(0),
                _ => 0,
            };
            if got == 0 {
                lost += 1;
            }
        }
    }
    let (deliver_h, ack_h) =
        step.hist.lock().map(|h| (h.0.clone(), h.1.clone())).map_err(|_| anyhow::anyhow!("poisoned"))?;
    let cpu = Cpu::of(watch.usage(&before, &after), own1.saturating_sub(own0) as f64 / crate::procs::ticks_per_s());
    let acked = step.acked.load(Ordering::Relaxed);
    let delivered = step.delivered.load(Ordering::Relaxed);
    let failed = step.failed.lock().map(|f| f.clone()).unwrap_or_default();
    let timed_out = step.timed_out.load(Ordering::Relaxed);
    let duplicated = step.duplicated.load(Ordering::Relaxed);
    let out_of_order = step.out_of_order.load(Ordering::Relaxed);
    let deliver = Latency::of(&deliver_h);
    let per_cpu = |n: u64| if cpu.server_s > 0.0 { n as f64 / cpu.server_s } else { 0.0 };
    Ok(ChatStep {
        label: label.to_owned(),
        target_rate: rate,
        duration_s: duration,
        sent: step.sent.load(Ordering::Relaxed),
        acked,
        pass: acked == total as u64
            && failed.is_empty()
            && timed_out == 0
            && lost == 0
            && duplicated == 0
            && out_of_order == 0
            && deliver.p99_ms < args.p99_target_ms,
        failed,
        timed_out,
        unanswered: step.unanswered.lock().map(|u| u.clone()).unwrap_or_default(),
        expected: step.expected.load(Ordering::Relaxed),
        delivered,
        lost,
        unacked_delivered,
        duplicated,
        out_of_order,
        ordered: step.ordered.load(Ordering::Relaxed) == 1,
        receipt_events: step.receipt_events.load(Ordering::Relaxed),
        other_events: step.other_events.load(Ordering::Relaxed),
        achieved_rate: total as f64 / send_secs.max(0.001),
        deliveries_per_s: delivered as f64 / elapsed.max(0.001),
        spectrum: report::spectrum(&deliver_h),
        deliver,
        ack: Latency::of(&ack_h),
        messages_per_cpu_s: per_cpu(acked),
        deliveries_per_cpu_s: per_cpu(delivered),
        cpu,
    })
}

fn spawn_progress(
    step: Arc<Step>,
    connections: usize,
    started: Instant,
    bar: indicatif::ProgressBar,
    label: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_print = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let sent = step.sent.load(Ordering::Relaxed);
            let p99 = step.hist.lock().map(|h| Latency::of(&h.0).p99_ms).unwrap_or(0.0);
            #[allow(clippy::cast_precision_loss)]
            let line = format!(
                "{label}: {connections} connections | sent {sent} ({:.0}/s) | acked {} | delivered {} | p99 {p99:.1} ms",
                sent as f64 / secs,
                step.acked.load(Ordering::Relaxed),
                step.delivered.load(Ordering::Relaxed),
            );
            if bar.is_hidden() {
                if last_print.elapsed() >= Duration::from_secs(5) {
                    eprintln!("{line}");
                    last_print = Instant::now();
                }
            } else {
                bar.set_message(line);
            }
        }
    })
}
