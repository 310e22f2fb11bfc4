//! A small PNG line chart of the training curves (no fonts: the numbers are in the CSV beside it).

use std::path::Path;

use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

const W: usize = 800;
const H: usize = 480;
const MARGIN: usize = 40;

/// One curve: points (x, y) and an RGB colour.
pub struct Series<'a> {
    /// The points, x ascending.
    pub points: &'a [(f64, f64)],
    /// Line colour.
    pub rgb: [u8; 3],
}

/// Draws the series on shared axes (light grid lines at the y ticks) and writes a PNG.
pub fn line_chart(path: &Path, series: &[Series]) -> Result<()> {
    let all = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let (y0, y1) = (
        y0.min(y1 - 1e-6).floor().max(0.0).min(y0),
        y1.ceil().max(y0 + 0.1),
    );
    let mut img = vec![255u8; W * H * 3];
    let px = |x: f64| MARGIN as f64 + (x - x0) / (x1 - x0).max(1e-9) * (W - 2 * MARGIN) as f64;
    let py = |y: f64| (H - MARGIN) as f64 - (y - y0) / (y1 - y0) * (H - 2 * MARGIN) as f64;
    let step = nice_step((y1 - y0) / 8.0);
    let mut y = (y0 / step).ceil() * step;
    while y <= y1 {
        line(
            &mut img,
            (MARGIN as f64, py(y)),
            ((W - MARGIN) as f64, py(y)),
            [220, 220, 220],
        );
        y += step;
    }
    let (left, bottom) = (MARGIN as f64, (H - MARGIN) as f64);
    line(
        &mut img,
        (left, bottom),
        ((W - MARGIN) as f64, bottom),
        [0, 0, 0],
    );
    line(&mut img, (left, bottom), (left, MARGIN as f64), [0, 0, 0]);
    for s in series {
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| (px(x), py(y)))
            .collect();
        for w in pts.windows(2) {
            line(&mut img, w[0], w[1], s.rgb);
        }
        for &p in &pts {
            line(&mut img, (p.0 - 1.0, p.1), (p.0 + 1.0, p.1), s.rgb);
        }
    }
    write_atomic(path, |w| {
        let mut enc = png::Encoder::new(w, W as u32, H as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let err = |e: png::EncodingError| Error::Internal(format!("PNG: {e}"));
        enc.write_header()
            .map_err(err)?
            .write_image_data(&img)
            .map_err(err)
    })
}

fn nice_step(raw: f64) -> f64 {
    let mag = 10f64.powf(raw.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag)
}

fn line(img: &mut [u8], a: (f64, f64), b: (f64, f64), rgb: [u8; 3]) {
    let n = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as usize;
    for i in 0..=n {
        let t = i as f64 / n as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        if x >= 0.0 && y >= 0.0 && (x as usize) < W && (y as usize) < H {
            let at = (y as usize * W + x as usize) * 3;
            img[at..at + 3].copy_from_slice(&rgb);
        }
    }
}
