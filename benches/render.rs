//! Rendering speed: a dense 10-second General MIDI arrangement through the built-in SoundFont.
//! `reprise bench render` gives the multiple of real time on 60 s beside FluidSynth.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use reprise::audio::{self, soundfont, RenderOptions};
use reprise::bench::dense_score;

fn render(c: &mut Criterion) {
    let sf = soundfont::load(None).expect("built-in SoundFont");
    let score = dense_score(10.0, 7);
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    group.throughput(Throughput::Elements(score.notes.len() as u64));
    for threads in [1, 2] {
        let opts = RenderOptions {
            threads,
            ..Default::default()
        };
        group.bench_function(format!("dense_10s_{threads}_threads"), |b| {
            b.iter(|| audio::render(&score, &sf, &opts, &mut |_| {}).expect("render"))
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
