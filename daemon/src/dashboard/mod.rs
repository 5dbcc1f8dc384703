//! The review dashboard on the dashboard listener: sessions, pages, its JSON
//! API, live events and the sanitised preview.

mod api;
pub mod assets;
pub mod sanitize;
mod sessions;

pub use api::router;
pub use sessions::{Login, Session, Sessions};
