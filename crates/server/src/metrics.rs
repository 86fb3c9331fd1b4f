//! The Prometheus text endpoint (`--metrics-port`): the server's and the
//! engine's figures in the text exposition format, served over HTTP by
//! `tiny_http` on a thread of its own.

/// What a metric is, in Prometheus's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows (until a restart).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl MetricKind {
    fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// One metric: its name, help, kind and samples (labels and value).
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// The name, `keel_` first.
    pub name: String,
    /// One line of help.
    pub help: &'static str,
    /// Its kind.
    pub kind: MetricKind,
    /// Each sample's labels (name, value) and value.
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Metric {
    /// A metric with one unlabelled sample.
    pub fn single(name: &str, help: &'static str, kind: MetricKind, value: f64) -> Metric {
        Metric {
            name: name.to_owned(),
            help,
            kind,
            samples: vec![(Vec::new(), value)],
        }
    }

    /// Appends the metric in the text exposition format.
    pub fn encode(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind.name());
        for (labels, value) in &self.samples {
            out.push_str(&self.name);
            if !labels.is_empty() {
                out.push('{');
                for (index, (label, text)) in labels.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                    }
                    let escaped = text
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    let _ = write!(out, "{label}=\"{escaped}\"");
                }
                out.push('}');
            }
            let _ = writeln!(out, " {value}");
        }
    }
}
