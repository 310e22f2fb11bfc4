//! Skewed vs naive (Shaw et al.) relative attention logits, one head, Dh = 64: time and peak memory.
//!
//! The naive form materialises the L×L×Dh relative tensor (1.07 GB at L = 2048); the skewed form needs only
//! the L×Dh relative embeddings and the L×L logits it produces anyway. Peak memory is measured with a
//! counting allocator around one call, and printed beside criterion's timings.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use reprise::model::relative_attention::{relative_embeddings, skew};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const DH: usize = 64;

/// Srel by the skew: `Q·Erᵀ`, pad, reshape, slice.
fn skewed(q: &Tensor, er: &Tensor) -> Tensor {
    let l = q.dim(2).unwrap();
    let er_l = relative_embeddings(er, l).unwrap();
    skew(
        &q.broadcast_matmul(&er_l.t().unwrap().unsqueeze(0).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// Srel the Shaw way: gather R[i][j] = E(i−j) into an L×L×Dh tensor, then one dot product per (i, j).
fn naive(q: &Tensor, er: &Tensor) -> Tensor {
    let l = q.dim(2).unwrap();
    let m = er.dim(1).unwrap();
    let idx: Vec<u32> = (0..l)
        .flat_map(|i| (0..l).map(move |j| (m - 1 - i.saturating_sub(j).min(m - 1)) as u32))
        .collect();
    let idx = Tensor::from_vec(idx, l * l, q.device()).unwrap();
    let r = er
        .squeeze(0)
        .unwrap()
        .index_select(&idx, 0)
        .unwrap()
        .reshape((l, l, DH))
        .unwrap(); // [L, L, Dh]
    let q = q
        .squeeze(0)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .unsqueeze(1)
        .unwrap(); // [L, 1, Dh]
    q.matmul(&r.transpose(1, 2).unwrap())
        .unwrap()
        .squeeze(1)
        .unwrap() // [L, L]
}

fn peak_bytes(f: impl FnOnce() -> Tensor) -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    drop(out);
    peak
}

fn bench(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut group = c.benchmark_group("relative_logits_one_head");
    group.sample_size(10);
    for l in [256usize, 650, 1024, 2048] {
        let q = Tensor::randn(0f32, 1.0, (1, 1, l, DH), &dev).unwrap();
        let er = Tensor::randn(0f32, 1.0, (1, l, DH), &dev).unwrap();
        let s_mem = peak_bytes(|| skewed(&q, &er));
        let n_mem = peak_bytes(|| naive(&q, &er));
        println!(
            "L={l}: peak memory skewed {:.2} MB (relative embeddings {:.2} MB), naive {:.1} MB (relative tensor {:.1} MB)",
            s_mem as f64 / 1e6,
            (l * DH * 4) as f64 / 1e6,
            n_mem as f64 / 1e6,
            (l * l * DH * 4) as f64 / 1e6
        );
        group.bench_with_input(BenchmarkId::new("skewed", l), &l, |b, _| {
            b.iter(|| skewed(&q, &er))
        });
        group.bench_with_input(BenchmarkId::new("naive", l), &l, |b, _| {
            b.iter(|| naive(&q, &er))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
