{{/* Chart name, truncated to the 63 characters Kubernetes allows in names and labels. */}}
{{- define "smtp-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed with the chart name unless it already contains it
(`helm install smtp-gateway …` gives "smtp-gateway").
*/}}
{{- define "smtp-gateway.fullname" -}}
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

{{- define "smtp-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "smtp-gateway.labels" -}}
helm.sh/chart: {{ include "smtp-gateway.chart" . }}
{{ include "smtp-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods (immutable in a Deployment: never add to them). */}}
{{- define "smtp-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smtp-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smtp-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smtp-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret holding REDIS_URL: the one you manage, or the one the chart creates from redis.url. */}}
{{- define "smtp-gateway.redisSecretName" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecret }}
{{- else }}
{{- printf "%s-redis" (include "smtp-gateway.fullname" .) }}
{{- end }}
{{- end }}

{{- define "smtp-gateway.redisSecretKey" -}}
{{- if .Values.redis.existingSecret }}
{{- .Values.redis.existingSecretKey }}
{{- else -}}
REDIS_URL
{{- end }}
{{- end }}
