"""Disputes (异议) and credit repair (信用修复): the working-day calendar deadlines are counted
in, and how open disputes and repaired records change what a served view of a profile shows."""
