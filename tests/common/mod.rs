#![allow(dead_code)]

pub mod cli;
pub mod receiver;
