//! `bench-argon2 [N]`: times Authgate's own argon2id hashing (the pool in
//! `authgate_core::password`, OWASP parameters) on this machine and prints
//! JSON: one worker hashing N passwords in a row (per-hash time on one
//! core), then one worker per core hashing N each at once (throughput).

use std::time::Instant;

use authgate_core::password::Hasher;

/// CPU time (ms) used so far by all of this process's threads
/// (`/proc/self/task/*/schedstat`, nanoseconds; 0 where unavailable).
fn cpu_ms() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ns = 0u64;
    for task in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    ns as f64 / 1e6
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let one = Hasher::new(1, n + 1);
    // The first job allocates the worker's 19 MiB buffer: not counted.
    one.hash("warm-up", [1; 16]).await?;
    let mut times = Vec::with_capacity(n);
    let cpu_start = cpu_ms();
    for i in 0..n {
        let t = Instant::now();
        one.hash(&format!("password-{i}"), [7; 16]).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // CPU time per hash: unlike wall time, barely moved by other load on
    // the machine (a Lambda's vCPU is not shared with it either).
    let cpu_per_hash = (cpu_ms() - cpu_start) / n as f64;
    let stored = one.hash("1234567890", [9; 16]).await?;
    let t = Instant::now();
    let ok = one.verify("1234567890", &stored).await?;
    let verify_ms = t.elapsed().as_secs_f64() * 1000.0;

    let pool = Hasher::new(cores, cores * (n + 1));
    let mut warm = Vec::new();
    for _ in 0..cores {
        let p = pool.clone();
        warm.push(tokio::spawn(
            async move { p.hash("warm-up", [1; 16]).await },
        ));
    }
    for w in warm {
        w.await??;
    }
    let t = Instant::now();
    let mut jobs = Vec::new();
    for i in 0..cores * n {
        let p = pool.clone();
        jobs.push(tokio::spawn(async move {
            p.hash(&format!("password-{i}"), [7; 16]).await
        }));
    }
    for j in jobs {
        j.await??;
    }
    let wall = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "params": "m=19456,t=2,p=1",
            "hashes": n,
            "hash_ms_median": median(times.clone()),
            "hash_ms_min": times.iter().copied().fold(f64::INFINITY, f64::min),
            "hash_cpu_ms": cpu_per_hash,
            "verify_ms": verify_ms,
            "verify_ok": ok,
            "cores": cores,
            "pool_hashes_per_s": (cores * n) as f64 / wall,
        })
    );
    Ok(())
}
