#![allow(dead_code)]

pub mod cli;
pub mod fs;
pub mod receiver;
pub mod tls;
