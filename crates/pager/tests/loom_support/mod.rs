//! What the loom models of keel-pager share.

use loom::sync::Arc;
use loom::thread;

/// Runs each of `roles` on its own thread of a loom model over the state
/// `setup` makes, then `check` with the results in role order; once for
/// every role on the model's main thread, the others spawned.
///
/// Why every rotation: loom's search remembers only the last access to an
/// atomic, so it can miss the orders in which a spawned thread that starts
/// with a load runs ahead of the main thread. A `try_upgrade` that ignored
/// its version passed the upgrade model with the reader on the main thread
/// and failed it with the reader spawned.
pub fn model_rotations<S, R, const N: usize>(
    setup: fn() -> Arc<S>,
    roles: [fn(&S) -> R; N],
    check: fn(&S, [R; N]),
) where
    S: 'static,
    R: 'static,
{
    for on_main in 0..N {
        loom::model(move || {
            let state = setup();
            let spawned: Vec<_> = (0..N)
                .filter(|&role| role != on_main)
                .map(|role| {
                    let (state, run) = (state.clone(), roles[role]);
                    (role, thread::spawn(move || run(&state)))
                })
                .collect();
            let mut results: [Option<R>; N] = std::array::from_fn(|_| None);
            results[on_main] = Some(roles[on_main](&state));
            for (role, handle) in spawned {
                results[role] = Some(handle.join().unwrap());
            }
            check(&state, results.map(Option::unwrap));
        });
    }
}
