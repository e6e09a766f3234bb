module.exports = require('./work-tree-guard').setup;
