//! auth_refresh
