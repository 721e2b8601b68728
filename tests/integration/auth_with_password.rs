//! auth_with_password
