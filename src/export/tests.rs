use super::call::Call;
