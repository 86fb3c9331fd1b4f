//! The chart of a run: for each timed workload, a horizontal bar per
//! engine of its throughput divided by the fastest engine's (1 = fastest),
//! on a log scale, so a glance shows who leads each row and by how much.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{Results, SUBJECT, score};
use crate::workloads::Figure;

/// Pixels of the image.
const WIDTH_PIXELS: u32 = 1100;
/// Pixels of one bar, and of the gap between two rows.
const BAR_PIXELS: u32 = 9;
const ROW_GAP_PIXELS: u32 = 10;
/// Pixels above the plot (title and legend), below it (axis), left of it
/// (workload names).
const HEADER_PIXELS: u32 = 76;
const AXIS_PIXELS: u32 = 50;
const LABEL_PIXELS: u32 = 330;
/// The smallest ratio the scale shows; slower bars are cut off there.
const RATIO_FLOOR_MIN: f64 = 1e-4;

fn color(engine: &str) -> RGBColor {
    match engine {
        SUBJECT => RGBColor(214, 73, 31),
        "lmdb" => RGBColor(49, 99, 149),
        "redb" => RGBColor(112, 160, 205),
        "rocksdb" => RGBColor(90, 90, 90),
        "sled" => RGBColor(150, 150, 150),
        "fjall" => RGBColor(120, 170, 110),
        _ => RGBColor(200, 200, 200),
    }
}

/// One row of the chart: a workload and each engine's ratio to the best.
struct Row<'a> {
    workload: &'a str,
    ratios: Vec<(&'static str, Option<f64>)>,
}

fn rows(results: &Results) -> Vec<Row<'_>> {
    results
        .workloads()
        .into_iter()
        .filter_map(|workload| {
            let timed = results.engines.iter().any(|(name, _)| {
                matches!(
                    results.figure(name, workload),
                    Some(Figure::Throughput { .. } | Figure::Duration(_))
                )
            });
            let (_, best) = results.best(workload, false)?;
            timed.then(|| Row {
                workload,
                ratios: results
                    .engines
                    .iter()
                    .map(|(name, _)| {
                        let ratio = results
                            .figure(name, workload)
                            .and_then(score)
                            .map(|score| score / best);
                        (*name, ratio)
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Where a ratio is written on the axis: as few decimals as it needs.
fn axis_label(value: &f64) -> String {
    if *value >= 1.0 {
        return format!("{value:.0}");
    }
    let decimals = (-value.log10()).ceil().max(0.0) as usize;
    format!("{value:.decimals$}")
}

/// Writes the chart of `results` to `path` as SVG, titled `title`.
pub fn write_svg(results: &Results, path: &Path, title: &str) -> Result<()> {
    let rows = rows(results);
    let engines: Vec<&'static str> = results.engines.iter().map(|(name, _)| *name).collect();
    let row_pixels = BAR_PIXELS * engines.len() as u32 + ROW_GAP_PIXELS;
    let height = HEADER_PIXELS + AXIS_PIXELS + row_pixels * rows.len().max(1) as u32 + 20;
    let lowest = rows
        .iter()
        .flat_map(|row| row.ratios.iter().filter_map(|(_, ratio)| *ratio))
        .fold(1.0f64, f64::min);
    let floor = 10f64
        .powf(lowest.max(RATIO_FLOOR_MIN).log10().floor())
        .min(0.1);

    let root = SVGBackend::new(path, (WIDTH_PIXELS, height)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|error| anyhow!("chart: {error}"))?;
    let (header, plot) = root.split_vertically(HEADER_PIXELS);
    header
        .draw(&Text::new(
            title.to_owned(),
            (12, 10),
            ("sans-serif", 18).into_font().style(FontStyle::Bold),
        ))
        .map_err(|error| anyhow!("chart: {error}"))?;
    let mut x = 12;
    for engine in &engines {
        header
            .draw(&Rectangle::new(
                [(x, 48), (x + 14, 62)],
                color(engine).filled(),
            ))
            .map_err(|error| anyhow!("chart: {error}"))?;
        header
            .draw(&Text::new(
                (*engine).to_owned(),
                (x + 20, 49),
                ("sans-serif", 14).into_font(),
            ))
            .map_err(|error| anyhow!("chart: {error}"))?;
        x += 30 + 9 * engine.len() as i32;
    }

    let total = f64::from(row_pixels) * rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&plot)
        .margin_right(24)
        .x_label_area_size(AXIS_PIXELS)
        .y_label_area_size(LABEL_PIXELS)
        .build_cartesian_2d((floor..1.0f64).log_scale(), 0f64..total)
        .map_err(|error| anyhow!("chart: {error}"))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("throughput ÷ the fastest engine's in the row (log scale; 1 = fastest)")
        .x_label_formatter(&axis_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|error| anyhow!("chart: {error}"))?;

    for (row_index, row) in rows.iter().enumerate() {
        let top =
            total - f64::from(row_pixels) * row_index as f64 - f64::from(ROW_GAP_PIXELS) / 2.0;
        let middle = top - f64::from(BAR_PIXELS) * engines.len() as f64 / 2.0;
        let (left, y) = chart.backend_coord(&(floor, middle));
        root.draw(&Text::new(
            row.workload.to_owned(),
            (left - 8, y),
            ("sans-serif", 13)
                .into_font()
                .into_text_style(&root)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(|error| anyhow!("chart: {error}"))?;
        for (engine_index, (engine, ratio)) in row.ratios.iter().enumerate() {
            let bar_top = top - f64::from(BAR_PIXELS) * engine_index as f64;
            let bar_bottom = bar_top - f64::from(BAR_PIXELS) + 1.0;
            let Some(ratio) = ratio else {
                // Say why there is no bar (no compaction, say).
                let (x, y) = chart.backend_coord(&(floor, (bar_top + bar_bottom) / 2.0));
                root.draw(&Text::new(
                    format!("{engine}: n/a"),
                    (x + 4, y),
                    ("sans-serif", 11)
                        .into_font()
                        .into_text_style(&root)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(|error| anyhow!("chart: {error}"))?;
                continue;
            };
            let end = ratio.max(floor);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(floor, bar_top), (end, bar_bottom)],
                    color(engine).filled(),
                )))
                .map_err(|error| anyhow!("chart: {error}"))?;
            if *engine == SUBJECT && *ratio < 1.0 {
                let (x, y) = chart.backend_coord(&(end, (bar_top + bar_bottom) / 2.0));
                root.draw(&Text::new(
                    crate::report::ratio_text(*ratio),
                    (x + 4, y),
                    ("sans-serif", 11)
                        .into_font()
                        .into_text_style(&root)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(|error| anyhow!("chart: {error}"))?;
            }
        }
    }
    root.present().map_err(|error| anyhow!("chart: {error}"))?;
    Ok(())
}
