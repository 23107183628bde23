// hpseg dashboard page (placeholder; charts follow).
"use strict";
