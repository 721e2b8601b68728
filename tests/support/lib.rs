//! Shared test harness (see `integration/`).
