//! keel-torture: a deterministic whole-engine crash simulator.
