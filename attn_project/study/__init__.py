"""Many runs → groups → mean ± 95% CI: reading run folders, the table, figures and TensorBoard."""
