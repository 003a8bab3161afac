//! A blocking kvws client (being written).
