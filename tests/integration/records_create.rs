//! records_create
