//! Where the worker prints: straight to stdout and stderr, or above the
//! line being edited.
//!
//! Apart from the worker so that running a command does not care whether
//! a terminal is there; on one, rustyline's `ExternalPrinter` redraws the
//! line being typed instead of garbling it.

use std::io::{self, Write};

use rustyline::ExternalPrinter;

/// Where the worker prints.
pub(super) enum Out {
    /// Straight to stdout (server messages) and stderr (everything else).
    Plain,
    /// Through rustyline, above the line being edited.
    Tty(Box<dyn ExternalPrinter + Send>),
    /// Nowhere.
    #[cfg(test)]
    Quiet,
}

impl Out {
    pub(super) fn message(&mut self, text: &str) {
        match self {
            Out::Plain => drop(writeln!(io::stdout(), "{text}")),
            Out::Tty(p) => drop(p.print(format!("{text}\n"))),
            #[cfg(test)]
            Out::Quiet => {}
        }
    }

    pub(super) fn note(&mut self, text: &str) {
        match self {
            Out::Plain => eprintln!("{text}"),
            Out::Tty(p) => drop(p.print(format!("{text}\n"))),
            #[cfg(test)]
            Out::Quiet => {}
        }
    }
}
