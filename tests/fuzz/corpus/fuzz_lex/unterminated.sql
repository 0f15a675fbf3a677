SELECT 1 -- unterminated; x
/* open ; (