//! The table, per route: each module's `route()` is one test's table.

pub mod callback;
pub mod connect;
pub mod fitbit_webhook;
pub mod google_health_webhook;
pub mod polar_webhook;
pub mod work;

use crate::table::Route;

/// Every route's table, in the order the matrix runs them.
pub fn all() -> Vec<Route> {
    vec![
        connect::route(),
        callback::route(),
        fitbit_webhook::route(),
        google_health_webhook::route(),
        polar_webhook::route(),
        work::route(),
    ]
}
