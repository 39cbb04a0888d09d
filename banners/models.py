"""Models of this app arrive with its issue; nothing here pretends to work yet."""
