//! The appliance's log of lock-outs and suspected forgeries, rate limited.
//!
//! Every forged trap hit could otherwise cost a log line: a flood of them
//! would fill the disk and bury the lines that matter. Each kind of line
//! gets a budget per window (`BUDGET` lines per `WINDOW`); past it, lines
//! are counted, and when the window ends one summary line says how many
//! were left out: `... and 4711 more lockouts in the last 10 s`. Nothing
//! is lost from the record: the flies are in the blacklist, and the counts
//! in the stats.

use crate::filter::Nanos;

/// Length of a budget window.
pub const WINDOW: Nanos = Nanos::from_secs(10);
/// Lines of one kind written per window before they are summarised.
pub const BUDGET: u32 = 20;

/// The kinds of line, each with its own budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Lockout,
    Suspect,
    Release,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Lockout, Kind::Suspect, Kind::Release];

    fn plural(self) -> &'static str {
        match self {
            Kind::Lockout => "lockouts",
            Kind::Suspect => "suspected forgeries",
            Kind::Release => "releases",
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Budget {
    window_start: Nanos,
    written: u32,
    held_back: u64,
}

/// A rate-limited writer of log lines; `out` receives each line.
pub struct EventLog<F: FnMut(&str)> {
    budgets: [Budget; 3],
    out: F,
}

impl<F: FnMut(&str)> EventLog<F> {
    pub fn new(out: F) -> EventLog<F> {
        EventLog {
            budgets: [Budget::default(); 3],
            out,
        }
    }

    /// Write a line of `kind` at `now` if its budget allows; `line` is
    /// only formatted then.
    pub fn log(&mut self, now: Nanos, kind: Kind, line: impl FnOnce() -> String) {
        self.roll(now, kind);
        let b = &mut self.budgets[kind as usize];
        if b.written < BUDGET {
            b.written += 1;
            (self.out)(&line());
        } else {
            b.held_back += 1;
        }
    }

    /// End the windows that are over at `now`, summarising what they held
    /// back. Call now and then (the control loop does, every 200 ms).
    pub fn tick(&mut self, now: Nanos) {
        for k in Kind::ALL {
            self.roll(now, k);
        }
    }

    /// Summarise what is held back, whatever the time (at stop).
    pub fn finish(&mut self) {
        for k in Kind::ALL {
            self.summarise(k);
        }
    }

    fn roll(&mut self, now: Nanos, kind: Kind) {
        let b = self.budgets[kind as usize];
        if now.0 >= b.window_start.0 + WINDOW.0 || now < b.window_start {
            self.summarise(kind);
            self.budgets[kind as usize] = Budget {
                window_start: now,
                written: 0,
                held_back: 0,
            };
        }
    }

    fn summarise(&mut self, kind: Kind) {
        let b = &mut self.budgets[kind as usize];
        if b.held_back > 0 {
            let line = format!(
                "... and {} more {} in the last {} s",
                b.held_back,
                kind.plural(),
                WINDOW.as_secs()
            );
            b.held_back = 0;
            (self.out)(&line);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn run(events: &[(u64, Kind)]) -> Vec<String> {
        let mut lines = Vec::new();
        {
            let mut log = EventLog::new(|l: &str| lines.push(l.to_string()));
            for (i, (ms, k)) in events.iter().enumerate() {
                let now = Nanos::from_millis(*ms);
                log.tick(now);
                log.log(now, *k, || format!("line {i}"));
            }
            log.finish();
        }
        lines
    }

    #[test]
    fn a_flood_is_summarised_and_quiet_times_are_not() {
        // 5000 lock-outs within one second.
        let flood: Vec<(u64, Kind)> = (0..5000).map(|i| (1000 + i / 5, Kind::Lockout)).collect();
        let lines = run(&flood);
        assert_eq!(lines.len(), BUDGET as usize + 1);
        assert_eq!(lines[0], "line 0");
        assert_eq!(
            lines[BUDGET as usize],
            "... and 4980 more lockouts in the last 10 s"
        );
        // One a second: every line written.
        let slow: Vec<(u64, Kind)> = (0..100).map(|i| (i * 1000, Kind::Lockout)).collect();
        assert_eq!(run(&slow).len(), 100);
    }

    #[test]
    fn each_kind_has_its_own_budget_and_windows_roll() {
        let mut ev: Vec<(u64, Kind)> = (0..30).map(|_| (0, Kind::Suspect)).collect();
        ev.extend((0..5).map(|_| (1, Kind::Lockout)));
        // The next window: a fresh budget, after the summary of the last.
        ev.extend((0..3).map(|_| (10_000, Kind::Suspect)));
        let lines = run(&ev);
        let summary = "... and 10 more suspected forgeries in the last 10 s";
        let at = lines.iter().position(|l| l == summary).expect("summary");
        assert_eq!(lines.len(), 20 + 5 + 1 + 3);
        assert_eq!(
            at, 25,
            "written when the window ended, before its successor's lines"
        );
    }
}
