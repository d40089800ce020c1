//! The connection scenarios. `idle`: N sockets held open, memory per connection and idle CPU.
//! `storm`: N sockets, then a node killed (or every socket dropped) and all of them reconnect at
//! once and sync; how long until every one is back and synced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};

use crate::api::Account;
use crate::procs::Watch;
use crate::report::{self, Latency};
use crate::setup::Endpoint;
use crate::sio::{self, Event};

/// Knobs of the idle scenario.
#[derive(Clone, Debug, clap::Args)]
pub struct IdleArgs {
    /// Sockets to hold open.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Users they belong to (several sockets per user, as devices).
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Seconds to hold them before measuring (idle CPU is measured over this time).
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
    /// Connection attempts in flight at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
}

/// One process's figures in the idle scenario.
#[derive(Debug, Serialize)]
pub struct IdleProc {
    name: String,
    rss_before_mib: f64,
    rss_after_mib: f64,
    kib_per_connection: f64,
    cpu_percent_of_a_core_while_idle: f64,
}

/// Result of the idle scenario.
#[derive(Debug, Serialize)]
pub struct IdleReport {
    connections: usize,
    failed: usize,
    connect_seconds: f64,
    processes: Vec<IdleProc>,
    loadgen_kib_per_connection: f64,
    /// All watched processes together while idle (hold time), as % of one core.
    total_cpu_percent_of_a_core: f64,
}

/// Runs the idle scenario.
#[allow(clippy::cast_precision_loss)]
pub async fn idle(
    end: &Endpoint,
    args: &IdleArgs,
    watch: &Watch,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<IdleReport> {
    bar.set_message(format!("registering {} users", args.users.max(1)));
    let users = end.users(args.users.max(1)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = watch.sample();
    let own_before = crate::procs::own().1;
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let user = &users[i % users.len()];
        let (target, auth, gate) = (end.target(i), end.auth(user, &[]), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            sio::connect(&target, &auth, Duration::from_secs(30), |_, _| {}).await
        }));
        if i % 500 == 0 {
            bar.set_message(format!("connecting: {i}/{}", args.connections));
        }
    }
    let mut sockets = Vec::with_capacity(args.connections);
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(s)) => sockets.push(s),
            Ok(Err(e)) => {
                if failed < 5 {
                    eprintln!("a connection failed: {e:#}");
                }
                failed += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    bar.set_message(format!("holding {} connections for {:.0} s", sockets.len(), args.hold));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hold_start = watch.sample();
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let after = watch.sample();
    let own_after = crate::procs::own().1;
    let n = sockets.len().max(1) as f64;
    let hold = watch.usage(&hold_start, &after);
    let processes: Vec<IdleProc> = watch
        .procs
        .iter()
        .map(|p| {
            let b = before.by_name.get(&p.name).map_or(0, |v| v.1) as f64 / 1024.0;
            let a = after.by_name.get(&p.name).map_or(0, |v| v.1) as f64 / 1024.0;
            let cpu = hold.iter().find(|u| u.name == p.name).map_or(0.0, |u| u.cpu_s);
            IdleProc {
                name: p.name.clone(),
                rss_before_mib: round(b),
                rss_after_mib: round(a),
                kib_per_connection: round((a - b) * 1024.0 / n),
                cpu_percent_of_a_core_while_idle: round(cpu / args.hold * 100.0),
            }
        })
        .collect();
    let total = hold.iter().map(|u| u.cpu_s).sum::<f64>() / args.hold * 100.0;
    for s in &sockets {
        s.close();
    }
    Ok(IdleReport {
        connections: sockets.len(),
        failed,
        connect_seconds: round(connect_seconds),
        processes,
        loadgen_kib_per_connection: round(own_after.saturating_sub(own_before) as f64 / n),
        total_cpu_percent_of_a_core: round(total),
    })
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Knobs of the storm scenario.
#[derive(Clone, Debug, clap::Args)]
pub struct StormArgs {
    /// Sockets.
    #[arg(long, default_value_t = 2000)]
    pub connections: usize,
    /// Users (in groups of 10; each socket syncs its user's group).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// SIGKILL the process whose pid is in this file (a chat node); without it, every socket
    /// drops its connection at once.
    #[arg(long)]
    pub kill_pidfile: Option<std::path::PathBuf>,
    /// Seconds within which every socket must be back and synced.
    #[arg(long, default_value_t = 10.0)]
    pub deadline: f64,
    /// Seconds a `chat.sync` may take to be answered.
    #[arg(long, default_value_t = 5.0)]
    pub sync_timeout: f64,
    /// Connection attempts in flight at once during the initial connect.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
}

/// Result of the storm scenario.
#[derive(Debug, Serialize)]
pub struct StormReport {
    connections: usize,
    /// What broke them: a killed node or a client-side drop.
    trigger: String,
    /// Sockets whose connection ended.
    affected: u64,
    /// Affected sockets connected again.
    reconnected: u64,
    /// Affected sockets whose `chat.sync` was answered `ok`.
    synced: u64,
    /// Reconnected and synced within the deadline.
    within_deadline: u64,
    /// Trigger → connected again.
    reconnect: Latency,
    /// Trigger → sync answered.
    sync: Latency,
    /// Seconds until the last affected socket was back (and synced, where sync is answered).
    all_back_seconds: f64,
    deadline_seconds: f64,
    pass: bool,
}

/// Runs the storm scenario.
#[allow(clippy::cast_precision_loss)]
pub async fn storm(end: &Endpoint, args: &StormArgs, bar: &indicatif::ProgressBar) -> anyhow::Result<StormReport> {
    bar.set_message(format!("registering {} users", args.users.max(1)));
    let groups = args.users.max(1).div_ceil(10);
    let pop = end.population(groups, 10.min(args.users.max(1))).await?;
    let users: Arc<Vec<(Account, String)>> = Arc::new(
        pop.groups.iter().flat_map(|(g, idx)| idx.iter().map(|&u| (pop.users[u].clone(), g.clone()))).collect(),
    );
    let (closed_tx, mut closed_rx) = mpsc::unbounded_channel::<usize>();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::new();
    for i in 0..args.connections {
        let (users, gate, tx, end) = (users.clone(), gate.clone(), closed_tx.clone(), end.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            open(&end, &users, i, tx).await
        }));
    }
    let mut sockets = Vec::new();
    for t in tasks {
        sockets.push(t.await??);
    }
    bar.set_message(format!("{} connected; breaking them", sockets.len()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t0 = Instant::now();
    let trigger = match &args.kill_pidfile {
        Some(f) => {
            let pid = std::fs::read_to_string(f)?.trim().to_owned();
            let status = std::process::Command::new("kill").args(["-KILL", &pid]).status()?;
            anyhow::ensure!(status.success(), "kill -KILL {pid} failed");
            format!("SIGKILL to {} (pid {pid})", f.display())
        }
        None => {
            for s in &sockets {
                s.close();
            }
            "every socket dropped by the client".to_owned()
        }
    };
    let affected = Arc::new(AtomicU64::new(0));
    let reconnected = Arc::new(AtomicU64::new(0));
    let synced = Arc::new(AtomicU64::new(0));
    let hists = Arc::new(Mutex::new((report::histogram(), report::histogram())));
    let last_back_us = Arc::new(AtomicU64::new(0));
    let sync_timeout = Duration::from_secs_f64(args.sync_timeout);
    let until = t0 + Duration::from_secs_f64(args.deadline * 3.0);
    let mut workers = Vec::new();
    // Sockets report their close; each reconnects at once, then syncs.
    loop {
        let wait = until.saturating_duration_since(Instant::now()).min(Duration::from_millis(1500));
        let Ok(Some(i)) = tokio::time::timeout(wait, closed_rx.recv()).await else { break };
        affected.fetch_add(1, Ordering::Relaxed);
        let (users, end) = (users.clone(), end.clone());
        let (reconnected, synced, hists, last) =
            (reconnected.clone(), synced.clone(), hists.clone(), last_back_us.clone());
        workers.push(tokio::spawn(async move {
            let (tx, _rx) = mpsc::unbounded_channel();
            let socket = loop {
                match open(&end, &users, i, tx.clone()).await {
                    Ok(s) => break s,
                    Err(_) if Instant::now() < until => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(_) => return,
                }
            };
            let back = u64::try_from(t0.elapsed().as_micros()).unwrap_or(0);
            reconnected.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut h) = hists.lock() {
                let _ = h.0.record(back.max(1));
            }
            let group = &users[i % users.len()].1;
            let ack = socket.emit_ack("chat.sync", &json!({ "groups": [{ "groupId": group, "afterSeq": 0 }] }));
            let done = match tokio::time::timeout(sync_timeout, ack).await {
                Ok(Ok(v)) if v["ok"] == Value::Bool(true) => {
                    synced.fetch_add(1, Ordering::Relaxed);
                    let at = u64::try_from(t0.elapsed().as_micros()).unwrap_or(0);
                    if let Ok(mut h) = hists.lock() {
                        let _ = h.1.record(at.max(1));
                    }
                    at
                }
                _ => back,
            };
            last.fetch_max(done, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            socket.close();
        }));
        if closed_rx.is_empty() && affected.load(Ordering::Relaxed) >= sockets.len() as u64 {
            break;
        }
    }
    for w in workers {
        let _ = w.await;
    }
    for s in &sockets {
        s.close();
    }
    let (rh, sh) = hists.lock().map(|h| (h.0.clone(), h.1.clone())).map_err(|_| anyhow::anyhow!("poisoned"))?;
    let deadline_us = (args.deadline * 1e6) as u64;
    let synced_n = synced.load(Ordering::Relaxed);
    // With sync answered, "back" means synced; until sync exists, reconnected.
    let within = if synced_n > 0 { sh.count_between(0, deadline_us) } else { rh.count_between(0, deadline_us) };
    let affected_n = affected.load(Ordering::Relaxed);
    Ok(StormReport {
        connections: sockets.len(),
        trigger,
        affected: affected_n,
        reconnected: reconnected.load(Ordering::Relaxed),
        synced: synced_n,
        within_deadline: within,
        reconnect: Latency::of(&rh),
        sync: Latency::of(&sh),
        all_back_seconds: last_back_us.load(Ordering::Relaxed) as f64 / 1e6,
        deadline_seconds: args.deadline,
        pass: affected_n > 0 && within == affected_n,
    })
}

/// Opens socket `i` (its user and group from `users`); tells `closed` when it ends.
async fn open(
    end: &Endpoint,
    users: &[(Account, String)],
    i: usize,
    closed: mpsc::UnboundedSender<usize>,
) -> anyhow::Result<Arc<sio::Socket>> {
    let (user, group) = &users[i % users.len()];
    let auth = end.auth(user, &[group.as_str()]);
    sio::connect(&end.target(i), &auth, Duration::from_secs(20), move |_, e| {
        if matches!(e, Event::Closed) {
            let _ = closed.send(i);
        }
    })
    .await
}
