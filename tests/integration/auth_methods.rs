//! auth_methods
