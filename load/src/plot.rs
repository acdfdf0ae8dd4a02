//! PNG plots (plotters): CPU and loss against students for the ramp, memory
//! against time for churn. Text is drawn with DejaVu Sans (Debian package
//! fonts-dejavu-core).

use crate::churn::Sample;
use crate::report::Run;
use anyhow::{Context, anyhow};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = FONT_PATHS
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| "DejaVuSans.ttf not found (Debian: fonts-dejavu-core)".to_owned())?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| "DejaVuSans.ttf is not a usable font".to_owned())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Worker CPU (top) and loss (bottom) against students, one series per run/worker.
pub fn ramp(runs: &[Run], path: &Path) -> anyhow::Result<()> {
    register_font()?;
    let ramp_steps = |run: &Run| -> Vec<crate::report::Step> {
        run.steps
            .iter()
            .filter(|s| s.phase == "ramp")
            .cloned()
            .collect()
    };
    let max_students = runs
        .iter()
        .flat_map(|r| ramp_steps(r).into_iter().map(|s| s.students))
        .max()
        .unwrap_or(100) as f64;
    let max_loss = runs
        .iter()
        .flat_map(|r| ramp_steps(r).into_iter().map(|s| s.loss_pct))
        .fold(1.0_f64, f64::max);

    let root = BitMapBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(480);

    let max_cpu = runs
        .iter()
        .flat_map(|r| ramp_steps(r).into_iter().map(|s| s.server_cpu_pct))
        .fold(100.0_f64, f64::max);
    let mut cpu = ChartBuilder::on(&top)
        .caption("SFU process CPU vs students", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_students * 1.05, 0.0..max_cpu * 1.1)
        .map_err(|e| anyhow!("{e}"))?;
    cpu.configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("students (1 teacher, audio + video each)")
        .y_desc("CPU % of one core (whole process)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (i, run) in runs.iter().enumerate() {
        let c = COLORS[(i * 2) % COLORS.len()];
        let points: Vec<(f64, f64)> = ramp_steps(run)
            .iter()
            .map(|s| (s.students as f64, s.server_cpu_pct))
            .collect();
        cpu.draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(run.title())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        cpu.draw_series(points.into_iter().map(|p| Circle::new(p, 4, c.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    cpu.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;

    let mut loss = ChartBuilder::on(&bottom)
        .caption("packet loss at the bots vs students", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_students * 1.05, 0.0..max_loss * 1.1)
        .map_err(|e| anyhow!("{e}"))?;
    loss.configure_mesh()
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("students")
        .y_desc("loss %")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (i, run) in runs.iter().enumerate() {
        let c = COLORS[(i * 2) % COLORS.len()];
        let points: Vec<(f64, f64)> = ramp_steps(run)
            .iter()
            .map(|s| (s.students as f64, s.loss_pct))
            .collect();
        loss.draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(run.title())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        loss.draw_series(points.into_iter().map(|p| Circle::new(p, 4, c.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    loss.draw_series(LineSeries::new(
        vec![(0.0, 1.0), (max_students * 1.05, 1.0)],
        RED.mix(0.5).stroke_width(1),
    ))
    .map_err(|e| anyhow!("{e}"))?
    .label("goal: 1 %")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.mix(0.5)));
    loss.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Server RSS against time during churn.
pub fn churn(samples: &[Sample], path: &Path, title: &str) -> anyhow::Result<()> {
    register_font()?;
    let max_minute = samples.iter().map(|s| s.minute).fold(1.0, f64::max);
    let max_rss = samples.iter().map(|s| s.rss_mb).fold(10.0, f64::max);
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_minute * 1.02, 0.0..max_rss * 1.2)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .y_desc("server RSS (MB)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.minute, s.rss_mb)).collect();
    chart
        .draw_series(LineSeries::new(points.clone(), COLORS[0].stroke_width(2)))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, COLORS[0].filled())),
        )
        .map_err(|e| anyhow!("{e}"))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
