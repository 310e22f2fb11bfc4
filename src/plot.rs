//! A small PNG line chart (training and cloning curves), with numeric axis labels in a built-in 5×7 digit font.

use std::path::Path;

use crate::atomic_file::write_atomic;
use crate::error::{Error, Result};

const W: usize = 800;
const H: usize = 480;
const MARGIN: usize = 48;

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
    while y <= y1 + 1e-9 {
        let grid = [220, 220, 220];
        line(
            &mut img,
            (MARGIN as f64, py(y)),
            ((W - MARGIN) as f64, py(y)),
            grid,
        );
        text(&mut img, 4, py(y) as usize - 3, &format_tick(y, step));
        y += step;
    }
    text(&mut img, MARGIN, H - MARGIN + 8, &format!("{x0:.0}"));
    let end = format!("{x1:.0}");
    text(&mut img, W - MARGIN - 6 * end.len(), H - MARGIN + 8, &end);
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

fn format_tick(y: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).clamp(0.0, 4.0) as usize;
    format!("{y:.decimals$}")
}

/// The characters [`FONT`] draws, in its order.
const FONT_CHARS: &str = "0123456789.-";

/// 5×7 glyphs of [`FONT_CHARS`] side by side, one blank column apart, row by row (`#` = ink).
const FONT: [&str; 7] = [
    ".###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... .....",
    "#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# ..... .....",
    "#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# ..... .....",
    "#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### ..... #####",
    "##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# ..... .....",
    "#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. .....",
    ".###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. .##.. .....",
];

/// The glyph of `c` if the font has one: one byte per row, low 5 bits, leftmost pixel = bit 4.
fn glyph(c: char) -> Option<[u8; 7]> {
    let at = FONT_CHARS.find(c)? * 6;
    Some(FONT.map(|row| {
        row.as_bytes()[at..at + 5]
            .iter()
            .fold(0, |bits, &p| bits << 1 | u8::from(p == b'#'))
    }))
}

/// Draws `s` with its top-left corner at (x, y), 6 pixels per character.
fn text(img: &mut [u8], x: usize, y: usize, s: &str) {
    for (i, c) in s.chars().enumerate() {
        let Some(rows) = glyph(c) else { continue };
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                let (px, py) = (x + i * 6 + col, y + r);
                if bits >> (4 - col) & 1 == 1 && px < W && py < H {
                    let at = (py * W + px) * 3;
                    img[at..at + 3].copy_from_slice(&[60, 60, 60]);
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_read_from_the_font_picture() {
        assert_eq!(glyph('0'), Some([14, 17, 19, 21, 25, 17, 14]));
        assert_eq!(glyph('9'), Some([14, 17, 17, 15, 1, 2, 12]));
        assert_eq!(glyph('.'), Some([0, 0, 0, 0, 0, 12, 12]));
        assert_eq!(glyph('-'), Some([0, 0, 0, 31, 0, 0, 0]));
        assert_eq!(glyph('x'), None);
    }

    #[test]
    fn writes_a_png_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let a: Vec<(f64, f64)> = (0..50)
            .map(|i| (i as f64, 3.0 / (1.0 + i as f64)))
            .collect();
        line_chart(
            &path,
            &[Series {
                points: &a,
                rgb: [0, 0, 255],
            }],
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert_eq!(format_tick(0.5, 0.5), "0.5");
        assert_eq!(format_tick(2.0, 1.0), "2");
    }
}
