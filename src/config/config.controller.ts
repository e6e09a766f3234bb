import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsDefined } from 'class-validator';
import { ConfigService } from './config.service';

export class SetConfigDto {
  @ApiProperty({ oneOf: [{ type: 'number' }, { type: 'string' }], example: 5 })
  @IsDefined({ message: 'value is required' })
  value: number | string;
}

@ApiTags('config')
@ApiBearerAuth()
@Controller('api/config')
export class ConfigController {
  constructor(private readonly config: ConfigService) {}

  @Get()
  @ApiOperation({ summary: 'Every setting with its value, default and meaning' })
  list() {
    return { config: this.config.describe() };
  }

  @Get(':key')
  get(@Param('key') key: string) {
    const k = this.config.resolveKey(key);
    return { key: k, value: this.config.get(k) };
  }

  @Put(':key')
  @ApiOperation({ summary: 'Change a setting; a bad value is refused and the old one stays' })
  set(@Param('key') key: string, @Body() body: SetConfigDto) {
    return this.config.set(key, body.value);
  }
}
