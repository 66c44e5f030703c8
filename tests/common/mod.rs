#![allow(dead_code)]

pub mod receiver;
