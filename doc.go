// Package nodenet brings the Node.js v0.10 net module to Go.
package nodenet
