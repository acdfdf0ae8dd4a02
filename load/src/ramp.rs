//! The ramp: students join step by step (50, 100, 200, ... and beyond until
//! it breaks), each step measured over a window; then a join storm (everyone
//! leaves, N join at once).

use crate::bots::student::Exit;
use crate::measure::{self, judge};
use crate::report::{Break, Run, Step};
use crate::testbed::TeacherBot;
use crate::testbed::Testbed;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: Vec<usize>,
    /// After the listed steps: keep adding this many until it breaks.
    pub beyond: usize,
    pub max_students: usize,
    pub window: Duration,
    pub settle: Duration,
    /// Joins per second within a step (0: all at once).
    pub join_rate: f64,
    /// Students of the join storm after the ramp (0: none).
    pub storm: usize,
    pub goal_loss_pct: f64,
    pub goal_join_p95_ms: f64,
    /// Consecutive steps that miss the goal before the ramp stops.
    pub max_missed: usize,
    /// A window where other processes used more CPU than this (% of one
    /// core) is measured again, up to `retries` times.
    pub max_others_cpu_pct: f64,
    pub retries: u32,
}

impl Plan {
    fn target(&self, index: usize) -> usize {
        match self.steps.get(index) {
            Some(n) => *n,
            None => {
                let last = self.steps.last().copied().unwrap_or(0);
                last + self.beyond * (index + 1 - self.steps.len())
            }
        }
    }
}

pub async fn ramp(testbed: &mut Testbed, plan: &Plan) -> Run {
    let workers = testbed.workers;
    let mut run = Run {
        sfu: testbed.server.name().to_owned(),
        sfu_settings: testbed.server.settings(),
        workers,
        ..Default::default()
    };
    let mut missed = 0;
    let mut index = 0;
    loop {
        let target = plan.target(index);
        index += 1;
        if target > plan.max_students || (index > plan.steps.len() && plan.beyond == 0) {
            run.stopped = format!(
                "reached the last step ({} students)",
                run.steps.last().map_or(0, |s| s.students)
            );
            break;
        }
        let present = testbed.crowd.live().len() + testbed.crowd.joining();
        let ids = testbed
            .crowd
            .spawn_many(target.saturating_sub(present), plan.join_rate)
            .await;
        let within = Duration::from_secs(30) + Duration::from_millis(100 * ids.len() as u64);
        testbed.crowd.settle(&ids, within).await;
        testbed.crowd.idle(plan.settle).await;
        let figures = testbed.crowd.figures(&ids, true);
        let mut step = window(testbed, plan, "ramp", target, &figures).await;
        let (ok, broken, verdict) = judge(&step, plan.goal_loss_pct, plan.goal_join_p95_ms);
        step.verdict = verdict.clone();
        if !figures.errors.is_empty() {
            tracing::warn!(workers, students = target, errors = ?figures.errors, "joins failed");
        }
        print_row(&step);
        run.steps.push(step);
        if ok {
            run.goal_met_up_to = Some(target);
            missed = 0;
        } else {
            missed += 1;
            if run.broke_at.is_none() {
                run.broke_at = Some(Break {
                    students: target,
                    reason: verdict.clone(),
                });
            }
        }
        if !testbed.server.is_running() {
            run.stopped = format!("the server died at {target} students");
            break;
        }
        if let Some(reason) = testbed.teacher.as_ref().and_then(TeacherBot::ended) {
            run.stopped = format!("the teacher's connection ended at {target} students: {reason}");
            break;
        }
        if broken {
            run.stopped = format!("broken at {target} students: {verdict}");
            break;
        }
        if missed >= plan.max_missed {
            run.stopped =
                format!("{missed} steps in a row missed the goal (last: {target} students)");
            break;
        }
    }
    if plan.storm > 0 && testbed.server.is_running() {
        let step = storm(testbed, plan, &mut run.events).await;
        run.steps.push(step);
    }
    run
}

/// Everyone leaves; then `plan.storm` students join at the same instant.
async fn storm(testbed: &mut Testbed, plan: &Plan, events: &mut Vec<String>) -> Step {
    let leaving = testbed.crowd.live().len();
    let teacher_before = testbed.teacher.as_ref().and_then(TeacherBot::ended);
    testbed
        .crowd
        .dismiss_all(Exit::Leave, Duration::from_secs(30))
        .await;
    testbed.crowd.idle(Duration::from_secs(3)).await;
    if let Some(reason) = testbed.teacher.as_ref().and_then(TeacherBot::ended) {
        if teacher_before.is_none() {
            events.push(format!(
                "the teacher's connection ended ({reason}) when {leaving} students left at once; a new teacher joined for the storm"
            ));
        }
        tracing::warn!(%reason, "the teacher is gone: a new one joins for the storm");
        if let Err(error) = testbed.restart_teacher().await {
            events.push(format!("no teacher for the storm: {error:#}"));
        }
    }
    tracing::info!(students = plan.storm, "join storm");
    let ids = testbed.crowd.spawn_many(plan.storm, 0.0).await;
    testbed.crowd.settle(&ids, Duration::from_secs(60)).await;
    testbed.crowd.idle(plan.settle).await;
    let figures = testbed.crowd.figures(&ids, true);
    let mut step = window(testbed, plan, "storm", plan.storm, &figures).await;
    step.verdict = judge(&step, plan.goal_loss_pct, plan.goal_join_p95_ms).2;
    if let Some(reason) = testbed.teacher.as_ref().and_then(TeacherBot::ended) {
        step.verdict = format!("invalid: no teacher ({reason})");
    }
    print_row(&step);
    step
}

/// Measures one window; measures again (up to `plan.retries` times) when
/// other processes on the machine took more than `plan.max_others_cpu_pct`
/// of it, and keeps the least disturbed window.
async fn window(
    testbed: &mut Testbed,
    plan: &Plan,
    phase: &str,
    students: usize,
    figures: &crate::crowd::JoinFigures,
) -> Step {
    let mut best: Option<Step> = None;
    for attempt in 0..=plan.retries {
        let before = testbed.probe().await;
        testbed.crowd.idle(plan.window).await;
        let after = testbed.probe().await;
        let mut step = measure::step(phase, testbed.workers, students, &before, &after, figures);
        step.remeasured = attempt;
        let disturbed = step.others_cpu_pct > plan.max_others_cpu_pct;
        if best
            .as_ref()
            .is_none_or(|b| step.others_cpu_pct < b.others_cpu_pct)
        {
            best = Some(step);
        }
        if !disturbed {
            break;
        }
        if attempt < plan.retries {
            tracing::warn!(
                students,
                others_cpu_pct = best.as_ref().map_or(0.0, |b| b.others_cpu_pct),
                "other processes took the CPU during the window; measuring again"
            );
        }
    }
    best.expect("at least one window")
}

pub fn print_row(step: &Step) {
    let table = crate::report::table(std::slice::from_ref(step));
    // The header once per run is enough for a reader; rows go to stdout as they come.
    if let Some(row) = table.lines().nth(2) {
        println!("{row}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_go_beyond_the_list() {
        let plan = Plan {
            steps: vec![50, 100, 200],
            beyond: 200,
            max_students: 1000,
            window: Duration::ZERO,
            settle: Duration::ZERO,
            join_rate: 0.0,
            storm: 0,
            goal_loss_pct: 1.0,
            goal_join_p95_ms: 500.0,
            max_missed: 2,
            max_others_cpu_pct: 20.0,
            retries: 0,
        };
        let targets: Vec<usize> = (0..5).map(|i| plan.target(i)).collect();
        assert_eq!(targets, vec![50, 100, 200, 400, 600]);
    }
}
