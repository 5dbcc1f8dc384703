//! Status round-trip latency over the control socket, against the real
//! daemon and two references, plus transport-setting experiments, daemon
//! start-up time and idle memory.
//!
//! Run with `cargo bench -p commsd --bench status_rtt`. Prints one plain
//! table; no external harness. `STATUS_RTT_ROUNDS` (default 3) repeats every
//! latency measurement that many times, in interleaved rounds; each row
//! reports its least disturbed round (lowest p50) and lists every round's
//! p50, so noise on a busy machine shows up as spread instead of hiding.
//!
//! What is measured:
//! 1. `Control/Status` against the `commsd` binary (separate process).
//! 2. Reference A: a do-nothing tonic `Control` service on a Unix socket,
//!    in-process on its own runtime thread, reached through the same client.
//! 3. Reference B (the floor): 64-byte echo over a std `UnixStream`.
//! 4. Variations of client runtime, client `Endpoint` and server builder.
//! 5. Daemon spawn-to-first-successful-Status, 20 fresh starts.
//! 6. Daemon idle RSS.

mod client;
mod daemon;
mod floor;
mod reference;
mod scenarios;

use std::time::{Duration, Instant};

use daemon::{DaemonProc, proc_status_field};
use scenarios::{Scenario, Target, loadavg, run_scenario, scenarios};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const WARMUP: usize = 500;
const CALLS: usize = 10_000;
const STARTS: usize = 20;
const CONNECTS: usize = 200;
const CONFIG: &str =
    "[listen]\ndashboard = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\nwebhooks = \"127.0.0.1:0\"\n";

// ---------------------------------------------------------------------------
// Statistics

#[derive(Debug, Clone, Copy)]
struct Stats {
    p50: f64,
    p90: f64,
    p99: f64,
    min: f64,
    max: f64,
}

/// Nearest-rank percentiles, in microseconds.
fn stats(samples: &[Duration]) -> Stats {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        if us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * us.len() as f64).ceil() as usize;
        us[rank.clamp(1, us.len()) - 1]
    };
    Stats {
        p50: pick(50.0),
        p90: pick(90.0),
        p99: pick(99.0),
        min: us.first().copied().unwrap_or(f64::NAN),
        max: us.last().copied().unwrap_or(f64::NAN),
    }
}

// ---------------------------------------------------------------------------

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; accept and ignore harness arguments.
    let rounds: usize = std::env::var("STATUS_RTT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let bench_start = Instant::now();
    let poll_rt = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };

    println!(
        "status_rtt: {CALLS} sequential calls after {WARMUP} warm-up per row, {rounds} round(s); times in µs"
    );
    println!(
        "cores: {}; commsd: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env!("CARGO_BIN_EXE_commsd")
    );

    // Two long-lived daemons: default, and one forced to a single worker.
    let mut daemons = Vec::new();
    for env in [&[][..], &[("TOKIO_WORKER_THREADS", "1")][..]] {
        let rt = poll_rt()?;
        let t = Instant::now();
        let mut d = DaemonProc::spawn(env)?;
        d.wait_ready(rt, t)?;
        daemons.push(d);
    }
    let threads: Vec<u64> = daemons
        .iter()
        .map(|d| proc_status_field(d.pid(), "Threads"))
        .collect::<Result<_>>()?;

    // Every round runs every scenario, so a burst of outside load lands on
    // whole rounds; each row then reports its least disturbed round.
    let list = scenarios();
    let mut per_round: Vec<Vec<Stats>> = vec![Vec::new(); list.len()];
    let mut loads = Vec::new();
    for _ in 0..rounds {
        loads.push(loadavg());
        for (i, s) in list.iter().enumerate() {
            let got = run_scenario(s, &daemons).map_err(|e| format!("{}: {e}", s.name))?;
            per_round[i].push(stats(&got));
        }
    }
    // What every commsctl invocation pays before its first real call.
    let mut connects = Vec::with_capacity(CONNECTS);
    for _ in 0..CONNECTS {
        let rt = poll_rt()?;
        let t = Instant::now();
        let connected = rt.block_on(commsd_proto::client::connect(&daemons[0].socket))?;
        connects.push(t.elapsed());
        drop(connected);
        drop(rt);
    }

    let rss_after_calls_kb = proc_status_field(daemons[0].pid(), "VmRSS")?;
    let hwm_after_calls_kb = proc_status_field(daemons[0].pid(), "VmHWM")?;
    for d in daemons {
        d.stop()?;
    }

    let all: Vec<Stats> = per_round
        .iter()
        .map(|rounds| {
            rounds
                .iter()
                .copied()
                .min_by(|a, b| a.p50.total_cmp(&b.p50))
                .unwrap_or_else(|| stats(&[]))
        })
        .collect();
    let p50_of = |pred: &dyn Fn(&Scenario) -> bool| -> f64 {
        list.iter().position(pred).map_or(f64::NAN, |i| all[i].p50)
    };
    let floor = p50_of(&|s| matches!(s.target, Target::FloorStd));
    let ref_a = p50_of(&|s| s.group == "core" && matches!(s.target, Target::RefA(_)));
    let daemon = p50_of(&|s| s.group == "core" && matches!(s.target, Target::Daemon(_)));

    // 5. Start-up: spawn to first successful Status, then SIGTERM.
    let mut ready = Vec::with_capacity(STARTS);
    let mut stops = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let rt = poll_rt()?;
        let t = Instant::now();
        let mut d = DaemonProc::spawn(&[])?;
        ready.push(d.wait_ready(rt, t)?);
        stops.push(d.stop()?);
    }

    // 6. Idle RSS after 1 s.
    let rt = poll_rt()?;
    let t = Instant::now();
    let mut d = DaemonProc::spawn(&[])?;
    d.wait_ready(rt, t)?;
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss_kb = proc_status_field(d.pid(), "VmRSS")?;
    let idle_threads = proc_status_field(d.pid(), "Threads")?;
    d.stop()?;

    // ---- The table
    println!();
    println!(
        "{:<10} {:<52} {:<26} {:>8} {:>8} {:>8} {:>8} {:>9}  {:<20} {:>8}",
        "group",
        "scenario",
        "client runtime",
        "p50",
        "p90",
        "p99",
        "min",
        "max",
        "p50 per round",
        "p50/flr"
    );
    println!("{}", "-".repeat(170));
    let mut last_group = "";
    for (i, s) in list.iter().enumerate() {
        if s.group != last_group && !last_group.is_empty() {
            println!();
        }
        last_group = s.group;
        let st = all[i];
        let rounds_txt = per_round[i]
            .iter()
            .map(|r| format!("{:.1}", r.p50))
            .collect::<Vec<_>>()
            .join("/");
        let rt = match s.target {
            Target::FloorStd => "blocking std".to_owned(),
            _ => s.rt.label(),
        };
        println!(
            "{:<10} {:<52} {:<26} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1}  {:<20} {:>7.2}x",
            s.group,
            s.name,
            rt,
            st.p50,
            st.p90,
            st.p99,
            st.min,
            st.max,
            rounds_txt,
            st.p50 / floor
        );
    }
    println!();
    println!("ratios (p50 of the best round):");
    println!("  daemon / reference A      = {:.2}x", daemon / ref_a);
    println!("  daemon / floor (std)      = {:.2}x", daemon / floor);
    println!("  reference A / floor (std) = {:.2}x", ref_a / floor);

    let connect_stats = stats(&connects);
    println!();
    println!(
        "fresh client::connect() (socket connect + HTTP/2 handshake + Status) on a running daemon, {CONNECTS} times: p50 {:.1} µs, p99 {:.1} µs",
        connect_stats.p50, connect_stats.p99
    );
    let ready_stats = stats(&ready);
    let stop_stats = stats(&stops);
    println!(
        "start-up, spawn -> first successful Status ({STARTS} fresh starts): median {:.1} ms, max {:.1} ms, min {:.1} ms",
        ready_stats.p50 / 1000.0,
        ready_stats.max / 1000.0,
        ready_stats.min / 1000.0
    );
    println!(
        "graceful stop, SIGTERM -> exit:                                   median {:.1} ms, max {:.1} ms",
        stop_stats.p50 / 1000.0,
        stop_stats.max / 1000.0
    );
    println!(
        "idle RSS after ready + 1 s: {:.1} MB ({idle_threads} threads; default daemon had {} threads, TOKIO_WORKER_THREADS=1 daemon {})",
        idle_rss_kb as f64 / 1024.0,
        threads.first().copied().unwrap_or(0),
        threads.get(1).copied().unwrap_or(0),
    );
    println!(
        "RSS of the benchmarked daemon after all calls: {:.1} MB (VmHWM {:.1} MB)",
        rss_after_calls_kb as f64 / 1024.0,
        hwm_after_calls_kb as f64 / 1024.0
    );
    println!(
        "load average at the start of each round: {}",
        loads.join(" | ")
    );
    println!(
        "total bench time: {:.1} s",
        bench_start.elapsed().as_secs_f64()
    );
    Ok(())
}
