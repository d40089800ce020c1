//! The `history` scenario: REST reads at a fixed rate (open loop), alternating a page of a
//! group's history and the caller's group list, with latency from each request's due time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::procs::Watch;
use crate::report::{self, Cpu, Latency};
use crate::setup::Endpoint;
use crate::sio;

/// Knobs of the history scenario.
#[derive(Clone, Debug, clap::Args)]
pub struct HistoryArgs {
    /// Requests per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Seconds of reading.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Messages posted to the group first.
    #[arg(long, default_value_t = 200)]
    pub messages: usize,
    /// Members of the group (readers take turns).
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// History page size.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// Result of the history scenario.
#[derive(Debug, Serialize)]
pub struct HistoryReport {
    target_rate: f64,
    requests: u64,
    /// HTTP status → count.
    statuses: BTreeMap<u16, u64>,
    history_page: Latency,
    my_groups: Latency,
    cpu: Cpu,
    requests_per_cpu_s: f64,
}

/// Runs the history scenario.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub async fn run(
    end: &Endpoint,
    args: &HistoryArgs,
    watch: &Watch,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<HistoryReport> {
    anyhow::ensure!(!end.reference, "the reference server keeps no history");
    bar.set_message(format!("registering {} users", args.members));
    let pop = end.population(1, args.members.max(2)).await?;
    let (group, idx) = pop.groups[0].clone();
    let writer = &pop.users[idx[0]];
    let socket =
        sio::connect(&end.target(0), &end.auth(writer, &[group.as_str()]), Duration::from_secs(20), |_, _| {}).await?;
    bar.set_message(format!("posting {} messages", args.messages));
    for chunk in (0..args.messages).collect::<Vec<_>>().chunks(20) {
        let acks: Vec<_> = chunk
            .iter()
            .map(|k| {
                socket.emit_ack(
                    "chat.message.send",
                    &json!({ "groupId": group, "content": format!("history {k}"), "clientMsgId": format!("{}:h:{k}", end.run_id) }),
                )
            })
            .collect();
        for a in acks {
            let v = tokio::time::timeout(Duration::from_secs(10), a).await??;
            anyhow::ensure!(v["ok"] == Value::Bool(true), "posting history failed: {v}");
        }
    }
    socket.close();

    let total = (args.rate * args.duration).ceil() as usize;
    let hists = Arc::new(Mutex::new((report::histogram(), report::histogram(), BTreeMap::<u16, u64>::new())));
    let before = watch.sample();
    let own0 = crate::procs::own().0;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    bar.set_message(format!("reading at {:.0}/s for {:.0} s", args.rate, args.duration));
    for k in 0..total {
        let due = started + Duration::from_secs_f64(k as f64 / args.rate);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let user = pop.users[idx[k % idx.len()]].clone();
        let (api, hists, path) = if k % 2 == 0 {
            (end.api.clone(), hists.clone(), format!("/groups/{group}/messages?limit={}", args.limit))
        } else {
            (end.api.clone(), hists.clone(), "/groups?limit=20".to_owned())
        };
        tasks.push(tokio::spawn(async move {
            let status = match api.call(Method::GET, &path, None, Some(&user.token)).await {
                Ok((s, _)) => s.as_u16(),
                Err(_) => 0,
            };
            let us = u64::try_from(due.elapsed().as_micros()).unwrap_or(0).max(1);
            if let Ok(mut h) = hists.lock() {
                let _ = if k % 2 == 0 { h.0.record(us) } else { h.1.record(us) };
                *h.2.entry(status).or_default() += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let after = watch.sample();
    let own1 = crate::procs::own().0;
    let (page, mine, statuses) =
        hists.lock().map(|h| (h.0.clone(), h.1.clone(), h.2.clone())).map_err(|_| anyhow::anyhow!("poisoned"))?;
    let cpu = Cpu::of(watch.usage(&before, &after), own1.saturating_sub(own0) as f64 / crate::procs::ticks_per_s());
    Ok(HistoryReport {
        target_rate: args.rate,
        requests: total as u64,
        requests_per_cpu_s: if cpu.server_s > 0.0 { total as f64 / cpu.server_s } else { 0.0 },
        statuses,
        history_page: Latency::of(&page),
        my_groups: Latency::of(&mine),
        cpu,
    })
}
