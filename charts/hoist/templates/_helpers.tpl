{{/* Chart name. */}}
{{- define "hoist.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-hoist, or the release name when it already contains the chart name. */}}
{{- define "hoist.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels every resource carries. */}}
{{- define "hoist.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hoist.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hoist
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels the Deployment selects its pods by; never change them on upgrade. */}}
{{- define "hoist.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hoist.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "hoist.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hoist.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hoist.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
controller.trustedRoot is either inline trusted_root.json (it starts with "{"), which the chart
puts in its own ConfigMap, or the name of an existing ConfigMap holding the key trusted_root.json.
*/}}
{{- define "hoist.trustedRootInline" -}}
{{- if hasPrefix "{" (trim .Values.controller.trustedRoot) }}true{{ end }}
{{- end }}

{{- define "hoist.trustedRootConfigMap" -}}
{{- if include "hoist.trustedRootInline" . }}
{{- printf "%s-trusted-root" (include "hoist.fullname" .) }}
{{- else }}
{{- .Values.controller.trustedRoot }}
{{- end }}
{{- end }}
