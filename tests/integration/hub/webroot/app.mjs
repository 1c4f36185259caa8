export const fixture = 42;
